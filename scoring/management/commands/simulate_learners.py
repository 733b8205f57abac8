"""The table of docs/LEARNERS.md: each cell learner against a textbook Thompson sampler, in process, fixed seeds."""

from django.core.management.base import BaseCommand

from ... import simulation


class Command(BaseCommand):
    help = ("Simulate the learners that read the scope hierarchy against a textbook Thompson sampler on known click "
            "rates and print the comparison as a Markdown table")

    def add_arguments(self, parser):
        parser.add_argument("--offers", default="10,50", help="catalog sizes, comma-separated (default 10,50)")
        parser.add_argument("--rounds", type=int, default=3000, help="recommendations per run (default 3000)")
        parser.add_argument("--seeds", type=int, default=20, help="runs per learner and catalog (default 20)")

    def handle(self, *args, offers, rounds, seeds, **options):
        sizes = [int(n) for n in offers.split(",") if n.strip()]
        results = [simulation.compare(offers=n, rounds=rounds, seeds=range(seeds)) for n in sizes]
        self.stdout.write(f"{rounds} rounds, {seeds} seeds per learner; mean ± standard deviation over the seeds\n")
        self.stdout.write(simulation.table(results) + "\n")
