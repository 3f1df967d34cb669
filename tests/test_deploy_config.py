"""The production layout's files: docker-compose.yml, docker/Dockerfile, docker/nginx.conf.

No Docker engine is needed (nor used): the files are parsed and checked against the code — the
services exist and are wired to PostgreSQL and Redis, every command names a real management
command or the Celery app, the load balancer reaches every web process and upgrades WebSockets,
the image's files exist — and the environment compose gives the app loads the settings it should.
"""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
NGINX_CONF = ROOT / "docker" / "nginx.conf"
HEALTHCHECK = ROOT / "docker" / "healthcheck.py"

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: Any, environ: dict[str, str] | None = None) -> Any:
    """Compose's variable substitution: from `environ` (the .env), else defaults, or a placeholder."""
    environ = environ or {}
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            name, op = match.group("name"), match.group("op") or ""
            if environ.get(name) or (name in environ and not op.startswith(":")):
                return environ[name]
            if op.endswith("-"):
                return match.group("arg")
            if op.endswith("?"):
                return f"required-{name}"
            return ""

        return INTERPOLATION.sub(sub, value.replace("$$", "\0")).replace("\0", "$")
    if isinstance(value, list):
        return [interpolate(v, environ) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v, environ) for k, v in value.items()}
    return value


@pytest.fixture(scope="module")
def raw_compose() -> str:
    return COMPOSE_FILE.read_text()


@pytest.fixture(scope="module")
def compose(raw_compose: str) -> dict[str, Any]:
    # safe_load resolves the anchors and `<<` merge keys the file uses, as compose does.
    return interpolate(yaml.safe_load(raw_compose))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def command_of(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def environment_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def is_app(service: dict[str, Any]) -> bool:
    """A service that runs this project's image (Django settings apply)."""
    build = service.get("build")
    if isinstance(build, dict) and str(build.get("dockerfile", "")).endswith("docker/Dockerfile"):
        return True
    return str(service.get("image", "")).startswith("supportdesk")


def app_services(services: dict[str, Any]) -> dict[str, Any]:
    return {name: s for name, s in services.items() if is_app(s)}


def web_services(services: dict[str, Any]) -> dict[str, Any]:
    return {name: s for name, s in app_services(services).items() if command_of(s)[1:3] == ["manage.py", "serve"]}


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def healthcheck_disabled(service: dict[str, Any]) -> bool:
    return bool((service.get("healthcheck") or {}).get("disable"))


# --- docker-compose.yml ----------------------------------------------------------------------
def test_the_production_services_exist(services):
    for name in ("postgres", "redis", "migrate", "bus", "xmpp", "worker", "beat", "lb"):
        assert name in services, f"docker-compose.yml has no `{name}` service"
    assert len(web_services(services)) >= 2, "at least two web processes (manage.py serve) behind the load balancer"


def test_postgres_16_with_a_volume_and_a_pg_isready_healthcheck(services):
    postgres = services["postgres"]
    assert postgres["image"].split(":")[0] == "postgres" and postgres["image"].split(":")[1].startswith("16")
    assert any(str(v).endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])


def test_redis_7_with_a_ping_healthcheck(services):
    redis = services["redis"]
    assert redis["image"].split(":")[0] == "redis" and redis["image"].split(":")[1].startswith("7")
    assert "ping" in " ".join(redis["healthcheck"]["test"])


def test_every_app_service_gets_the_wiring_settings(services):
    apps = app_services(services)
    assert {"migrate", "bus", "worker", "beat", *web_services(services)} <= set(apps)
    for name, service in apps.items():
        env = environment_of(service)
        for key in (
            "DATABASE_URL",
            "REDIS_URL",
            "SECRET_KEY",
            "ALLOWED_HOSTS",
            "PUBLIC_BASE_URL",
            "TWILIO_ACCOUNT_SID",
            "TWILIO_AUTH_TOKEN",
        ):
            assert key in env, f"{name} does not get {key}"
        assert env["DEBUG"] == "0", f"{name} must run with DEBUG=0"
        assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
        assert env["REDIS_URL"].startswith("redis://redis:6379")
        assert env["SECRET_KEY"], f"{name}: SECRET_KEY must come from .env, never be empty"


def test_the_app_waits_for_its_services_and_the_migration(services):
    assert depends_on(services["migrate"]) == {"postgres": "service_healthy"}
    assert services["migrate"].get("restart") == "no", "migrate is one-shot"
    for name, service in app_services(services).items():
        if name == "migrate":
            continue
        deps = depends_on(service)
        assert deps.get("postgres") == "service_healthy", name
        assert deps.get("redis") == "service_healthy", name
        assert deps.get("migrate") == "service_completed_successfully", name


def test_manage_py_commands_exist(services):
    from django.core.management import get_commands

    known = get_commands()
    for name, service in app_services(services).items():
        command = command_of(service)
        if command[:2] == ["python", "manage.py"]:
            assert command[2] in known, f"{name} runs `manage.py {command[2]}`, which does not exist"


def test_web_processes_serve_asgi_on_8000_and_keep_the_image_healthcheck(services):
    for name, service in web_services(services).items():
        command = command_of(service)
        assert command[command.index("--host") + 1] == "0.0.0.0", name
        assert command[command.index("--port") + 1] == "8000", name
        assert not healthcheck_disabled(service), f"{name} must keep the /healthz healthcheck"
        assert not service.get("ports"), f"{name} is reached through the load balancer only"


def test_two_bus_workers_drain_the_journal_and_send_the_outbox(services):
    bus = services["bus"]
    assert command_of(bus) == ["python", "manage.py", "run_bus"]
    assert bus["deploy"]["replicas"] >= 2, "one bus worker stopped must not stop the bus"
    assert environment_of(bus)["REDIS_URL"], "with REDIS_URL (TASKS_EAGER off) run_bus is the only processor"


def test_one_xmpp_gateway_holds_the_xmpp_connections(services):
    xmpp = services["xmpp"]
    assert is_app(xmpp) and command_of(xmpp) == ["python", "manage.py", "run_xmpp"]
    assert xmpp["deploy"]["replicas"] == 1, "two sessions of one XMPP account conflict"
    assert "profiles" not in xmpp, "XMPP replies are sent by run_xmpp alone: it must always run"
    assert environment_of(xmpp)["DATABASE_URL"], "it journals what it reads and claims its replies"
    assert "media:/app/media" in xmpp["volumes"], "it uploads the files agents attach"
    assert healthcheck_disabled(xmpp)
    grace = str(xmpp.get("stop_grace_period", "10s"))
    assert grace.endswith("s") and float(grace[:-1]) >= 15, "time to finish the sends under way"


def test_worker_and_beat_run_the_celery_app(services):
    from supportdesk.celery import app

    assert app.main == "supportdesk"
    for name, subcommand in (("worker", "worker"), ("beat", "beat")):
        command = command_of(services[name])
        assert command[0] == "celery", name
        assert command[command.index("-A") + 1] == "supportdesk", name
        assert subcommand in command, name
    # Beat runs the schedule from settings; the schedule's tasks must exist.
    from django.conf import settings

    app.loader.import_default_modules()
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in app.tasks, f"beat schedules {entry['task']}, which is not a registered task"


def test_processes_without_http_do_not_inherit_the_http_healthcheck(services):
    for name, service in app_services(services).items():
        if name not in web_services(services):
            assert healthcheck_disabled(service), f"{name} serves no HTTP: its healthcheck must be disabled"


def test_beat_writes_its_schedule_somewhere_writable(services):
    command = command_of(services["beat"])
    assert "--schedule" in command or "-s" in command, "the image's /app is not writable by the app user"
    path = command[command.index("--schedule" if "--schedule" in command else "-s") + 1]
    assert path.startswith("/tmp/") or path.startswith("/data/")


def test_load_balancer_publishes_8000_and_reaches_every_web_process(services):
    lb = services["lb"]
    assert any(str(p).split(":")[-2] == "8000" for p in lb["ports"]), lb["ports"]
    mounts = [str(v) for v in lb["volumes"]]
    assert any(m.startswith("./docker/nginx.conf:/etc/nginx/conf.d/") for m in mounts), mounts
    assert set(web_services(services)) <= set(depends_on(lb))


def test_every_compose_variable_is_in_env_example(raw_compose):
    example = (ROOT / ".env.example").read_text()
    for match in INTERPOLATION.finditer(raw_compose):
        assert re.search(rf"^#?\s*{match.group('name')}=", example, re.M), (
            f"${{{match.group('name')}}} is used in docker-compose.yml but not shown in .env.example"
        )


def test_env_example_does_not_hold_a_usable_secret():
    example = (ROOT / ".env.example").read_text()
    assert re.search(r"^SECRET_KEY=change-me$", example, re.M)
    ignored = (ROOT / ".gitignore").read_text().splitlines() + (ROOT / ".dockerignore").read_text().splitlines()
    assert ".env" in ignored or "/.env" in ignored, ".env (the real secrets) must never be committed or built in"


# --- docker/nginx.conf -----------------------------------------------------------------------
def nginx_text() -> str:
    return "\n".join(line.split("#", 1)[0] for line in NGINX_CONF.read_text().splitlines())


def nginx_block(text: str, header: str) -> str:
    """The body of the first `header { ... }` block (header is a regex)."""
    match = re.search(header + r"\s*\{", text)
    assert match, f"no block {header!r} in {NGINX_CONF.name}"
    depth, start = 1, match.end()
    for index in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return text[start:index]
    raise AssertionError(f"unbalanced braces after {header!r}")


def direct_directives(block: str) -> str:
    """The block without its nested blocks."""
    while True:
        stripped = re.sub(r"\{[^{}]*\}", ";", block)
        if stripped == block:
            return block
        block = stripped


def test_nginx_upstream_lists_every_web_process(services):
    text = nginx_text()
    upstream = nginx_block(text, r"upstream\s+(\w+)")
    name = re.search(r"upstream\s+(\w+)", text).group(1)
    for web in web_services(services):
        assert re.search(rf"\bserver\s+{web}:8000\b", upstream), f"{web} is not in the upstream"
    assert f"proxy_pass http://{name};" in nginx_block(nginx_block(text, r"server"), r"location\s+/(?=\s*\{)")


def test_nginx_proxies_websockets_under_ws_with_the_upgrade_headers():
    text = nginx_text()
    server = nginx_block(text, r"server")
    ws = nginx_block(server, r"location\s+/ws/")
    assert re.search(r"proxy_pass\s+http://\w+;", ws)
    # proxy_set_header is inherited from the server block only if the location sets none.
    headers_from = ws if "proxy_set_header" in ws else direct_directives(server)
    assert re.search(r"proxy_set_header\s+Upgrade\s+\$http_upgrade;", headers_from)
    connection = re.search(r"proxy_set_header\s+Connection\s+(\S+);", headers_from)
    assert connection, "no Connection header for the upgrade"
    if connection.group(1).startswith("$"):
        mapping = nginx_block(text, r"map\s+\$http_upgrade\s+" + re.escape(connection.group(1)))
        assert re.search(r"default\s+upgrade;", mapping)
    else:
        assert connection.group(1).strip('"').lower() == "upgrade"
    version_from = ws if "proxy_http_version" in ws else direct_directives(server)
    assert re.search(r"proxy_http_version\s+1\.1;", version_from), "WebSocket upgrade needs HTTP/1.1 upstream"
    read_timeout = re.search(r"proxy_read_timeout\s+(\d+)s;", ws)
    assert read_timeout and int(read_timeout.group(1)) > 20, "sockets idle between heartbeats (20 s)"


def test_nginx_passes_the_host_with_its_port():
    # Django's ALLOWED_HOSTS and CSRF check, and the console socket's same-origin check, compare
    # against Host; `$host` would drop the port that Origin carries.
    server = direct_directives(nginx_block(nginx_text(), r"server"))
    assert re.search(r"proxy_set_header\s+Host\s+\$http_host;", server)
    assert re.search(r"proxy_set_header\s+X-Forwarded-Proto\s+\S+;", server)


def test_nginx_gives_each_request_an_id_and_keeps_metrics_inside():
    server = nginx_block(nginx_text(), r"server")
    assert re.search(r"proxy_set_header\s+X-Request-ID\s+\$request_id;", direct_directives(server))
    metrics = nginx_block(server, r"location\s+=\s+/metrics")
    assert re.search(r"return\s+404;", metrics) and "proxy_pass" not in metrics


def test_nginx_drops_an_idle_upstream_connection_before_the_web_process_does():
    """nginx reuses upstream connections; one the web process closes first can take a request
    in flight, and nginx answers a POST (a webhook) that fails so with a 502 and no retry."""
    upstream = nginx_block(nginx_text(), r"upstream\s+\w+")
    assert re.search(r"\bkeepalive\s+\d+;", upstream)
    timeout = re.search(r"\bkeepalive_timeout\s+(\d+)s;", upstream)
    assert timeout, "state the upstream idle timeout (nginx's default is 60 s)"
    assert int(timeout.group(1)) < settings.HTTP_KEEPALIVE_SECONDS


# --- docker/Dockerfile -----------------------------------------------------------------------
def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            rows.append((keyword.upper(), rest.strip()))
    return rows


def test_dockerfile_base_user_port_and_command():
    rows = dockerfile_instructions()
    assert rows[0] == ("FROM", "python:3.11-slim")
    users = [rest for keyword, rest in rows if keyword == "USER"]
    assert users and users[-1] not in ("root", "0"), "the image must run as a non-root user"
    assert ("EXPOSE", "8000") in rows
    cmd = json.loads([rest for keyword, rest in rows if keyword == "CMD"][-1])
    assert cmd == ["python", "manage.py", "serve", "--host", "0.0.0.0", "--port", "8000"]


def test_dockerfile_copies_files_that_exist_and_installs_the_requirements():
    rows = dockerfile_instructions()
    for keyword, rest in rows:
        if keyword in ("COPY", "ADD"):
            parts = [p for p in shlex.split(rest) if not p.startswith("--")]
            for source in parts[:-1]:
                assert (ROOT / source).exists() or list(ROOT.glob(source)), (
                    f"the Dockerfile copies {source}, which does not exist"
                )
    runs = " ".join(rest for keyword, rest in rows if keyword == "RUN")
    assert "pip install -r requirements.txt" in runs


def test_dockerfile_collects_static_with_build_only_secrets():
    rows = dockerfile_instructions()
    collect = [rest for keyword, rest in rows if keyword == "RUN" and "collectstatic" in rest]
    assert collect, "static files are collected at build"
    assert re.search(r"\bDEBUG=0\b", collect[0])
    assert re.search(r"\bSECRET_KEY=\S+", collect[0]) and re.search(r"\bALLOWED_HOSTS=\S+", collect[0])
    for keyword, rest in rows:
        if keyword in ("ENV", "ARG"):
            assert "SECRET_KEY" not in rest, "a build-time SECRET_KEY must not stay in the image"


def test_dockerfile_healthcheck_hits_healthz():
    rows = dockerfile_instructions()
    check = [rest for keyword, rest in rows if keyword == "HEALTHCHECK"]
    assert check and "docker/healthcheck.py" in check[0]
    assert HEALTHCHECK.exists()
    assert '"/healthz"' in HEALTHCHECK.read_text()


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_image():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    for entry in (".venv", ".env", ".secret_key", "db.sqlite3*", ".git"):
        assert entry in ignored, f".dockerignore must exclude {entry}"
    for needed in ("docker", "requirements.txt", "manage.py", "apps", "supportdesk"):
        assert needed not in ignored and f"/{needed}" not in ignored


# --- the settings the containers actually get --------------------------------------------------
def load_settings(env: dict[str, str]) -> dict[str, Any]:
    """Import supportdesk.settings in a clean process with exactly this environment."""
    code = (
        "import json, django\n"
        "django.setup()\n"
        "from django.conf import settings as s\n"
        "print(json.dumps({'DEBUG': s.DEBUG, 'ENGINE': s.DATABASES['default']['ENGINE'],\n"
        " 'DB_HOST': s.DATABASES['default'].get('HOST'), 'LAYER': s.CHANNEL_LAYERS['default']['BACKEND'],\n"
        " 'EAGER': s.CELERY_TASK_ALWAYS_EAGER, 'BROKER': s.CELERY_BROKER_URL, 'ALLOWED_HOSTS': s.ALLOWED_HOSTS,\n"
        " 'PUBLIC_BASE_URL': s.PUBLIC_BASE_URL, 'STATICFILES': s.STORAGES['staticfiles']['BACKEND'],\n"
        " 'DB': {k: s.DATABASES['default'].get(k) for k in ('NAME', 'USER', 'PASSWORD', 'HOST', 'PORT')}}))\n"
    )
    clean = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DJANGO_SETTINGS_MODULE": "supportdesk.settings",
        **env,
    }
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_compose_environment_loads_the_production_settings(services):
    loaded = load_settings(
        environment_of(services["web1"] if "web1" in services else next(iter(web_services(services).values())))
    )
    assert loaded["DEBUG"] is False
    assert loaded["ENGINE"] == "django.db.backends.postgresql" and loaded["DB_HOST"] == "postgres"
    assert loaded["LAYER"] == "channels_redis.core.RedisChannelLayer"
    assert loaded["EAGER"] is False, "with Redis the tasks go to the worker"
    assert loaded["BROKER"].startswith("redis://redis:6379")
    assert "localhost" in loaded["ALLOWED_HOSTS"]
    assert loaded["STATICFILES"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"


@pytest.mark.parametrize("password", ["p@ss/w:rd#1?x%20y", "a:b@c/d#e", "ends-with-@"])
def test_a_postgres_password_with_url_characters_reaches_the_app_as_it_is(raw_compose, password):
    """.env's POSTGRES_PASSWORD with '@ / : #' (issue 10): the app connects with exactly it."""
    dotenv = {"POSTGRES_PASSWORD": password, "SECRET_KEY": "Zq8-real-key-" + "kT4wZ1pL8sX3nB6yH0cF5jD2gK9aE4uW7rN"}
    services = interpolate(yaml.safe_load(raw_compose), dotenv)["services"]
    assert environment_of(services["postgres"])["POSTGRES_PASSWORD"] == password
    for name in ("migrate", "web1", "worker"):
        loaded = load_settings(environment_of(services[name]))
        assert loaded["DB"] == {
            "NAME": "supportdesk",
            "USER": "supportdesk",
            "PASSWORD": password,
            "HOST": "postgres",
            "PORT": 5432,
        }, name


def test_compose_requires_a_postgres_password(raw_compose):
    """No silent default password: compose stops with a message when .env has none."""
    services = interpolate(yaml.safe_load(raw_compose))["services"]
    assert environment_of(services["postgres"])["POSTGRES_PASSWORD"] == "required-POSTGRES_PASSWORD"
    for name, service in app_services(services).items():
        assert "required-POSTGRES_PASSWORD" in environment_of(service).values(), name


def test_the_build_time_collectstatic_environment_loads_settings():
    collect = [rest for keyword, rest in dockerfile_instructions() if keyword == "RUN" and "collectstatic" in rest][0]
    env = dict(re.findall(r"\b([A-Z_]+)=(\S+)", collect.split("python", 1)[0]))
    loaded = load_settings(env)
    assert loaded["DEBUG"] is False
    assert loaded["STATICFILES"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"


# --- docker/healthcheck.py -------------------------------------------------------------------
@pytest.fixture
def healthcheck_module():
    spec = importlib.util.spec_from_file_location("sd_healthcheck", HEALTHCHECK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fake_server():
    """An HTTP server that records the Host header and answers 200 for allowed hosts."""
    seen: list[tuple[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            seen.append((self.path, self.headers.get("Host", "")))
            status = 200 if self.headers.get("Host") in ("support.example.com", "localhost") else 400
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b'{"status": "ok"}')

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], seen
    server.shutdown()
    server.server_close()


def test_healthcheck_asks_healthz_with_an_allowed_host(healthcheck_module, fake_server, monkeypatch):
    port, seen = fake_server
    monkeypatch.setenv("HEALTHCHECK_PORT", str(port))
    monkeypatch.setenv("ALLOWED_HOSTS", "*.internal, .support.example.com,other.example.com")
    assert healthcheck_module.main() == 0
    assert seen == [("/healthz", "support.example.com")]
    monkeypatch.delenv("ALLOWED_HOSTS")
    assert healthcheck_module.main() == 0
    assert seen[-1] == ("/healthz", "localhost")


def test_healthcheck_fails_on_an_error_answer_or_no_server(healthcheck_module, fake_server, monkeypatch):
    port, _ = fake_server
    monkeypatch.setenv("HEALTHCHECK_PORT", str(port))
    monkeypatch.setenv("ALLOWED_HOSTS", "refused.example.com")
    assert healthcheck_module.main() == 1
    monkeypatch.setenv("HEALTHCHECK_PORT", "1")
    assert healthcheck_module.main() == 1


# --- the settings reference (docs/settings.md; README.md's table until issue 10) ---------------
def test_the_settings_reference_documents_every_setting():
    settings_source = (ROOT / "supportdesk" / "settings.py").read_text()
    names = set(re.findall(r"\benv\.\w+\(\s*\"([A-Z][A-Z0-9_]*)\"", settings_source))
    assert len(names) > 20
    reference = (ROOT / "docs" / "settings.md").read_text()
    missing = sorted(name for name in names if f"| `{name}`" not in reference and f", `{name}`" not in reference)
    assert not missing, f"settings.py reads these variables; add them to docs/settings.md's table: {missing}"


# --- the inbound SMTP listener (docs/EMAIL.md) -------------------------------------------------
def test_the_smtp_service_runs_the_listener_on_its_published_port(services):
    smtp = services["smtp"]
    assert is_app(smtp) and command_of(smtp) == ["python", "manage.py", "run_smtp"]
    env = environment_of(smtp)
    host, _, port = env["SMTP_LISTEN"].rpartition(":")
    assert host == "0.0.0.0", "the listener must take connections from outside its container"
    published = [str(p) for p in smtp["ports"]]
    assert any(p.rsplit(":", 1)[-1] == port for p in published), (published, port)
    assert "25" in [p.split(":")[0] for p in published], "the MX port 25 by default"
    assert "INBOUND_EMAIL_DOMAIN" in env
    assert healthcheck_disabled(smtp)


def test_the_smtp_service_needs_its_profile_and_gets_time_to_finish_storing_mail(services):
    from apps.gateways.email.smtp import STOP_GRACE_SECONDS

    smtp = services["smtp"]
    assert smtp.get("profiles") == ["email"], "without INBOUND_EMAIL_DOMAIN run_smtp refuses to start"
    grace = str(smtp.get("stop_grace_period", "10s"))
    assert grace.endswith("s") and float(grace[:-1]) > STOP_GRACE_SECONDS


def test_the_compose_environment_of_the_smtp_service_loads_a_listen_address(services):
    from apps.gateways.email.smtp import parse_listen

    env = environment_of(services["smtp"])
    assert parse_listen(env["SMTP_LISTEN"]) == ("0.0.0.0", 2525)
    loaded = load_settings(env | {"INBOUND_EMAIL_DOMAIN": "support.example.com"})
    assert loaded["DEBUG"] is False and loaded["ENGINE"] == "django.db.backends.postgresql"


def test_nginx_lets_a_whole_mail_through_to_the_email_webhook():
    from django.conf import settings

    location = nginx_block(nginx_block(nginx_text(), r"server"), r"location\s+=\s+/webhooks/email/inbound")
    assert re.search(r"proxy_pass\s+http://\w+;", location)
    size = re.search(r"client_max_body_size\s+(\d+)m;", location)
    assert size and int(size.group(1)) * 1024 * 1024 > settings.EMAIL_MAX_BYTES
