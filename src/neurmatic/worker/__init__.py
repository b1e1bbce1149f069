"""The background job worker: RQ queues on the Sentinel-managed Redis, the job functions, the heartbeat."""
