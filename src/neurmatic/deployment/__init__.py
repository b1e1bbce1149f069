"""What a Neurmatic deployment is, however it was described: an operators' env file or the local topology.

The operations kit acts on a :class:`~neurmatic.deployment.model.Deployment`; it never asks where the
description came from. Process control (deploy, drills, scaling) goes through a
:class:`~neurmatic.deployment.platform.Platform`, which only some deployments have.
"""
