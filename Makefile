# The two commands: `make run` and `make test`. Both install what they need into .venv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# The one origin make run prints, seed_demo writes into the demo widget's allowed origins, the
# console is opened at and Twilio webhooks are signed for (simulate_sms reads it from the running
# server). Set it to the public URL when the desk is reached through a proxy or tunnel.
PUBLIC_BASE_URL ?= http://localhost:$(PORT)
# GET /metrics answers this machine only (docs/observability.md).
METRICS_ALLOWED_NETWORKS ?= 127.0.0.0/8,::1/128
# make run's mail domain: the demo email inbox is support@ it, the SMTP listener (127.0.0.1:2525)
# takes mail for it and replies carry reply+<token>@ it. Set your own for real mail.
INBOUND_EMAIL_DOMAIN ?= support.localhost

.PHONY: run test lint bench chaos migrate install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	$(BIN)/python manage.py migrate --noinput

run: migrate
	PUBLIC_BASE_URL=$(PUBLIC_BASE_URL) INBOUND_EMAIL_DOMAIN=$(INBOUND_EMAIL_DOMAIN) $(BIN)/python manage.py seed_demo
	@echo "supportdesk on $(PUBLIC_BASE_URL)/console/  (admin: $(PUBLIC_BASE_URL)/admin/, widget demo: $(PUBLIC_BASE_URL)/widget/demo/)"
	PUBLIC_BASE_URL=$(PUBLIC_BASE_URL) INBOUND_EMAIL_DOMAIN=$(INBOUND_EMAIL_DOMAIN) METRICS_ALLOWED_NETWORKS=$(METRICS_ALLOWED_NETWORKS) \
		$(BIN)/python manage.py serve --host $(HOST) --port $(PORT)

# Test processes (pytest-xdist): the suite spends most of its time waiting on the servers,
# sockets and browsers it starts, so three share two cores well. TEST_WORKERS=0: one process.
TEST_WORKERS ?= 3
test: install-dev
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy apps supportdesk

bench: install-dev
	$(BIN)/python bench/run.py $(BENCH_ARGS)
	$(BIN)/python bench/xmpp_inbound.py $(XMPP_BENCH_ARGS)
	$(BIN)/python bench/triage.py $(TRIAGE_BENCH_ARGS)
	$(BIN)/python bench/triage_receive.py $(TRIAGE_RECEIVE_ARGS)

# Fault injection on the production layout, on its own PostgreSQL and Redis (bench/README.md).
chaos: install-dev
	$(BIN)/python -m bench.chaos $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) db.sqlite3 test-artifacts .supportdesk-server.json
