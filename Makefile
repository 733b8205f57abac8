# Two commands set everything up: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
WEB_WORKERS ?= 2

.PHONY: install migrate demo run test test-fast bench bench-anchor bench-training bench-lists simulate clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	@touch $@

migrate: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0

demo: migrate
	$(PY) manage.py seed_demo

# Web (gunicorn) and a django-q2 worker in the foreground; Ctrl-C stops both. The web processes share
# their metric counters through var/prometheus (PROMETHEUS_MULTIPROC_DIR), emptied at each start.
run: demo
	@echo ""
	@echo "  Model lifecycle is starting at http://127.0.0.1:$(PORT)/"
	@echo "  Demo logins (user / password): analyst / analyst-demo, reviewer / reviewer-demo,"
	@echo "                                 admin / admin-demo, viewer / viewer-demo"
	@echo "  API docs: http://127.0.0.1:$(PORT)/api/docs/   Ctrl-C stops web and worker."
	@echo ""
	@rm -rf var/prometheus && mkdir -p var/prometheus
	@trap 'kill 0' INT TERM; \
	OMP_NUM_THREADS=1 $(PY) manage.py qcluster & \
	OMP_NUM_THREADS=1 PROMETHEUS_MULTIPROC_DIR=$(CURDIR)/var/prometheus $(VENV)/bin/gunicorn config.wsgi \
	  -c config/gunicorn_conf.py --bind 127.0.0.1:$(PORT) --workers $(WEB_WORKERS) \
	  --access-logfile - --graceful-timeout 5 & \
	wait

test: install
	OMP_NUM_THREADS=1 $(PY) -m pytest

test-fast: install
	OMP_NUM_THREADS=1 $(PY) -m pytest -m "not worker and not e2e"

clean:
	rm -rf var/db.sqlite3* var/test.sqlite3* var/staticfiles

# Serving benchmark (not a test): its own PostgreSQL database (BENCH_PG_URL, default
# postgres://postgres@127.0.0.1:5432) and gunicorn; prints the figures. See docs/BENCHMARKS.md.
bench: install
	OMP_NUM_THREADS=1 $(PY) tests/bench/bench_scoring.py $(BENCH_ARGS)

# The MLflow anchor (not a test): our single-row score against `mlflow models serve` of the same rows' model,
# side by side. MLflow goes into its own virtualenv (ANCHOR_VENV, default var/anchor-venv), never into $(VENV).
bench-anchor: install
	OMP_NUM_THREADS=1 $(PY) tests/bench/bench_anchor.py $(BENCH_ARGS)

# Training overhead (not a test): a run through the services, executed inline as the worker does, on a fresh
# database (SQLite; BENCH_ARGS="--db postgres" for PostgreSQL on BENCH_PG_URL), against the same work done
# directly with scikit-learn, per model type and effort, with where the rest goes. See docs/BENCHMARKS.md.
bench-training: install
	OMP_NUM_THREADS=1 $(PY) tests/bench/bench_training.py $(BENCH_ARGS)

# List pages benchmark (not a test): the samples and traces pages with 10, 1,000 and 100,000 rows, in-process.
# SQLite by default; BENCH_ARGS="--db postgres" for PostgreSQL (BENCH_PG_URL). See docs/BENCHMARKS.md.
bench-lists: install
	OMP_NUM_THREADS=1 $(PY) tests/bench/bench_lists.py $(BENCH_ARGS)

# The learners against a textbook Thompson sampler (not a test; the suite runs a smaller version): prints the
# table of docs/LEARNERS.md. SIMULATE_ARGS="--seeds 5 --rounds 1000" for a quicker look.
simulate: install
	OMP_NUM_THREADS=1 $(PY) manage.py simulate_learners $(SIMULATE_ARGS)
