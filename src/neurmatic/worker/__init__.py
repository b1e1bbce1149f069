"""The background job worker. Its queues arrive with the jobs issue; today it connects and waits."""
