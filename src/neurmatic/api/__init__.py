"""The ASGI service: stateless, so any number of instances can run behind the load balancer."""
