"""Start a batch AI job from the command line and, unless --no-wait, follow it to the end."""

import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from aiwriter.jobs import services as job_services
from aiwriter.models import BatchAction, BatchJob, JobStatus

POLL_SECONDS = 1.0


class Command(BaseCommand):
    help = "Run an AI action over many posts on the Celery workers, e.g. --action summarize --missing."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--action", required=True, choices=list(BatchAction.values))
        scope = parser.add_mutually_exclusive_group(required=True)
        scope.add_argument("--missing", action="store_true", help="Every post whose field for the action is empty.")
        scope.add_argument("--posts", type=int, nargs="+", metavar="ID", help="These posts, by number.")
        parser.add_argument("--overwrite", action="store_true", help="Replace text already in the field.")
        parser.add_argument(
            "--user", default="", help="Whose name the posts are changed in (default: the first active superuser)."
        )
        parser.add_argument("--no-wait", action="store_true", help="Print the job's number and return at once.")
        parser.add_argument("--timeout", type=float, default=3600, help="Seconds to wait before giving up watching.")

    def handle(self, *args, **options) -> None:
        user = self._user(options["user"])
        try:
            job = job_services.batch_start(
                user=user,
                action=options["action"],
                post_ids=options["posts"],
                missing=options["missing"],
                overwrite=options["overwrite"],
            )
        except job_services.JobError as error:
            raise CommandError(error.message) from None
        self.stdout.write(f"Job {job.pk} started: {job.get_action_display()} over {job.total} posts.")
        if not options["no_wait"]:
            self._follow(job, timeout=options["timeout"])

    def _user(self, username: str):
        users = get_user_model().objects.filter(is_active=True)
        user = users.filter(username=username).first() if username else users.filter(is_superuser=True).first()
        if user is None:
            raise CommandError(f"No active user {username!r}." if username else "No active superuser; pass --user.")
        return user

    def _follow(self, job: BatchJob, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        shown = -1
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.finished_count != shown:
                shown = job.finished_count
                self.stdout.write(f"{shown}/{job.total} processed: {self._counts(job)}")
            if job.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
                self.stdout.write(f"Job {job.pk} {job.get_status_display().lower()}.")
                for item in job.items.exclude(error=""):
                    self.stdout.write(f"  {item.post_title}: {item.get_status_display()}: {item.error}")
                return
            time.sleep(POLL_SECONDS)
        raise CommandError(f"Job {job.pk} is still {job.status}; it goes on without this command.")

    @staticmethod
    def _counts(job: BatchJob) -> str:
        return (
            f"{job.done_count} changed, {job.skipped_count} skipped, "
            f"{job.failed_count} failed, {job.cancelled_count} cancelled"
        )
