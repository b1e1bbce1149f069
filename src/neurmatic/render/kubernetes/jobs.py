"""The migration Job, run before each rollout, and the guide's daily 02:00 UTC backup CronJob.

The Job lives in a kustomization of its own (``migrate/``), not in the production overlay: a Job's pod
template is immutable, so it is deleted and re-applied per release with the release's image, waited for,
and only then is the overlay applied (docs/deploy.md, "Kubernetes").
"""

from __future__ import annotations

from neurmatic.render import app_container as app
from neurmatic.render.kubernetes.names import Manifest, metadata
from neurmatic.render.kubernetes.pods import container, pod_template, resources

BACKUP_SCHEDULE = "0 2 * * *"  # the guide's daily backup, 02:00 UTC (`neurmatic backup schedule`'s default)
BACKUP_DIR = "/backups"  # the dump's scratch space before its upload to S3 (AWS_BACKUP_BUCKET)
JOB_RESOURCES = resources("250m", "256Mi", "1", "1Gi")


def migrate_job() -> Manifest:
    migrate = container("migrate", app.MIGRATE_COMMAND, JOB_RESOURCES)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata("neurmatic-migrate", "migrate"),
        "spec": {
            "backoffLimit": 1,  # the schema guard refuses a narrowing migration: retrying will not help
            "activeDeadlineSeconds": 900,
            "ttlSecondsAfterFinished": 86400,
            "template": pod_template("migrate", [migrate], restartPolicy="Never"),
        },
    }


def backup_cronjob() -> Manifest:
    backup = container(
        "backup",
        app.BACKUP_COMMAND,
        JOB_RESOURCES,
        env=[{"name": "BACKUP_DIR", "value": BACKUP_DIR}],
        volumeMounts=[{"name": "backups", "mountPath": BACKUP_DIR}],
    )
    template = pod_template(
        "backup",
        [backup],
        restartPolicy="Never",
        volumes=[{"name": "backups", "emptyDir": {"sizeLimit": "20Gi"}}],
    )
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": metadata("neurmatic-backup", "backup"),
        "spec": {
            "schedule": BACKUP_SCHEDULE,
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 3600,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "spec": {"backoffLimit": 2, "activeDeadlineSeconds": 4 * 3600, "template": template}
            },
        },
    }
