"""RedactTokensFilter: tokens leave every part of a log record; request lines stay readable.

The end-to-end proof (real servers as users run them, real access logs, a project's own
LOGGING) is in tests/interop/test_logging_live.py and tests/interop/test_security.py.
"""

from __future__ import annotations

import io
import logging
import sys
import time

import django
import pytest
from django.core import mail
from django.test import RequestFactory, override_settings
from django.utils import log as django_log

from django_hubs.extras.daphne import RedactingServer, redacting
from django_hubs.filters import InvocationLoggerFilter
from django_hubs.security import redaction as hubs_logging
from django_hubs.security.redaction import REDACTED, RedactTokensFilter, install, redact

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoxfQ.c2lnbmF0dXJl"
OPAQUE = "opaque-token-value"
CONNECTION_TOKEN = "BqCoUigGXYaukBLTIkgEWA"


def record(msg: object, args: object = (), **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("test", logging.INFO, __file__, 1, msg, args, None)  # type: ignore[arg-type]
    made.__dict__.update(extra)
    return made


def filtered(made: logging.LogRecord) -> logging.LogRecord:
    assert RedactTokensFilter().filter(made) is True  # redaction never drops a record
    return made


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            f"GET /hubs/chat?id={CONNECTION_TOKEN}&access_token={OPAQUE} HTTP/1.1",
            f"GET /hubs/chat?id={REDACTED}&access_token={REDACTED} HTTP/1.1",
        ),
        (f"/hubs/chat?access_token={OPAQUE}", f"/hubs/chat?access_token={REDACTED}"),
        (f"/hubs/chat?ACCESS_TOKEN={OPAQUE}#x", f"/hubs/chat?ACCESS_TOKEN={REDACTED}#x"),
        (f"next=%2Fhubs%3Faccess_token%3D{OPAQUE}", f"next=%2Fhubs%3Faccess_token%3D{REDACTED}"),
        (f"Authorization: Bearer {OPAQUE}", f"Authorization: Bearer {REDACTED}"),
        (f"token {TOKEN} seen", f"token {REDACTED} seen"),
        (f"<QueryDict: {{'access_token': ['{OPAQUE}']}}>", f"<QueryDict: {{'access_token': ['{REDACTED}']}}>"),
        # What must survive: the request line, other parameters, ids that are not tokens.
        ("GET /hubs/chat/negotiate?negotiateVersion=1 200", "GET /hubs/chat/negotiate?negotiateVersion=1 200"),
        ("/articles?id=42&page=2", "/articles?id=42&page=2"),
    ],
)
def test_redact(line: str, expected: str) -> None:
    assert redact(line) == expected


@override_settings(HUBS_REDACTED_QUERY_PARAMS=["access_token", "sig"])
def test_the_setting_names_the_parameters() -> None:
    assert redact(f"/a?sig={OPAQUE}&access_token={OPAQUE}") == f"/a?sig={REDACTED}&access_token={REDACTED}"


@override_settings(HUBS_REDACTED_QUERY_PARAMS=[])
def test_without_names_only_recognisable_tokens_go() -> None:
    assert redact(f"/a?access_token={OPAQUE}") == f"/a?access_token={OPAQUE}"
    assert redact(f"/a?access_token={TOKEN}") == f"/a?access_token={REDACTED}"


def test_message_and_tuple_arguments() -> None:
    # uvicorn's access log: the formatter unpacks exactly five arguments.
    made = filtered(
        record('%s - "%s %s HTTP/%s" %d', ("127.0.0.1:1", "GET", f"/hubs/chat?access_token={OPAQUE}", "1.1", 200))
    )
    assert made.args == ("127.0.0.1:1", "GET", f"/hubs/chat?access_token={REDACTED}", "1.1", 200)
    assert made.getMessage() == f'127.0.0.1:1 - "GET /hubs/chat?access_token={REDACTED} HTTP/1.1" 200'
    assert filtered(record(f"plain /x?access_token={OPAQUE}")).getMessage() == f"plain /x?access_token={REDACTED}"


def test_a_token_in_the_format_string_and_placeholders_in_it() -> None:
    made = filtered(record("GET /hubs/chat?access_token=%s id=%d", (OPAQUE, 7)))
    assert made.getMessage() == f"GET /hubs/chat?access_token={REDACTED} id=7"
    made = filtered(record(f"GET /hubs/chat?access_token={OPAQUE} id=%d", (7,)))
    assert made.getMessage() == f"GET /hubs/chat?access_token={REDACTED} id=7"


def test_dict_arguments_are_copied_not_changed() -> None:
    # daphne's runserver logs "HTTP %(method)s %(path)s ..." with its details dict.
    details = {"method": "GET", "path": f"/hubs/chat?access_token={OPAQUE}", "status": 200}
    made = filtered(record("HTTP %(method)s %(path)s %(status)s", (details,)))
    assert made.getMessage() == f"HTTP GET /hubs/chat?access_token={REDACTED} 200"
    assert details["path"].endswith(OPAQUE)  # the server's own dict is untouched


def test_objects_whose_text_holds_a_token() -> None:
    class Url:
        def __str__(self) -> str:
            return f"/x?access_token={OPAQUE}"

    made = filtered(record("to %s, %d tries", (Url(), 3)))
    assert made.getMessage() == f"to /x?access_token={REDACTED}, 3 tries"


def test_exception_text() -> None:
    try:
        raise RuntimeError(f"failed on /x?access_token={OPAQUE}")
    except RuntimeError:
        made = record("boom", exc_info=sys.exc_info())
    made.exc_info = made.__dict__.pop("exc_info")
    text = logging.Formatter().format(filtered(made))
    assert OPAQUE not in text
    assert f"access_token={REDACTED}" in text


def test_request_attribute() -> None:
    request = RequestFactory().get(
        "/hubs/chat", {"access_token": OPAQUE, "id": "1"}, headers={"authorization": f"Bearer {OPAQUE}"}
    )
    made = filtered(record("Internal Server Error: %s", (request.path,), request=request))
    clean = made.request  # type: ignore[attr-defined]
    assert clean is not request
    assert OPAQUE not in repr(clean) and OPAQUE not in clean.get_full_path()
    assert clean.GET["access_token"] == REDACTED and clean.GET["id"] == "1"
    assert clean.META["HTTP_AUTHORIZATION"] == REDACTED
    assert clean.headers["Authorization"] == REDACTED
    assert OPAQUE not in str(clean.META)
    # The request the view is still using is untouched.
    assert request.GET["access_token"] == OPAQUE and request.headers["Authorization"] == f"Bearer {OPAQUE}"


def test_request_without_token_is_left_alone() -> None:
    request = RequestFactory().get("/hubs/chat", {"id": "1"})
    assert filtered(record("x", request=request)).request is request  # type: ignore[attr-defined]


def test_scope_attribute() -> None:
    scope = {
        "type": "websocket",
        "query_string": f"id=1&access_token={OPAQUE}".encode(),
        "headers": [(b"authorization", f"Bearer {OPAQUE}".encode()), (b"host", b"example.com")],
    }
    clean = filtered(record("x", scope=scope)).scope  # type: ignore[attr-defined]
    assert OPAQUE not in repr(clean)
    assert clean["query_string"] == f"id=1&access_token={REDACTED}".encode()
    assert (b"host", b"example.com") in clean["headers"]
    assert scope["query_string"].endswith(OPAQUE.encode())


@pytest.fixture
def clean_loggers():
    """Loggers and handlers of a test, taken down afterwards."""
    made: list[tuple[logging.Logger, logging.Handler]] = []

    def make(name: str, propagate: bool = True) -> tuple[logging.Logger, io.StringIO]:
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = propagate
        made.append((logger, handler))
        return logger, stream

    yield make
    for logger, handler in made:
        logger.removeHandler(handler)
        logger.filters = [f for f in logger.filters if not isinstance(f, RedactTokensFilter)]
        logger.setLevel(logging.NOTSET)
        logger.propagate = True


def test_install_covers_records_of_child_loggers(clean_loggers) -> None:
    # A filter on "hubs_parent" alone would miss records created on "hubs_parent.child":
    # install() puts it on the handlers those records reach as well.
    parent, stream = clean_loggers("hubs_parent", propagate=False)
    install(["hubs_parent"])
    logging.getLogger("hubs_parent.child").info("GET /hubs/chat?access_token=%s", OPAQUE)
    parent.info("GET /hubs/chat?access_token=%s", OPAQUE)
    output = stream.getvalue()
    assert OPAQUE not in output
    assert output.count(f"GET /hubs/chat?access_token={REDACTED}") == 2


def test_install_is_idempotent(clean_loggers) -> None:
    logger, _ = clean_loggers("hubs_twice")
    install(["hubs_twice"])
    install(["hubs_twice"])
    assert sum(isinstance(f, RedactTokensFilter) for f in logger.filters) == 1
    assert sum(isinstance(f, RedactTokensFilter) for f in logger.handlers[0].filters) == 1


def test_the_app_installed_it_on_the_server_loggers() -> None:
    # apps.py ready() ran when pytest-django set Django up.
    for name in ("uvicorn.access", "uvicorn.error", "django.channels.server", "django.request", "django_hubs"):
        assert any(isinstance(f, RedactTokensFilter) for f in logging.getLogger(name).filters), name
    assert hubs_logging.REQUEST_LOGGERS


def test_every_record_is_cleaned_when_it_is_made() -> None:
    from django_hubs.security.redaction import RedactingRecordFactory

    assert isinstance(logging.getLogRecordFactory(), RedactingRecordFactory)  # ready() installed it
    logger = logging.getLogger("hubs_nobody_configured.child")
    dirty = logger.makeRecord(logger.name, logging.INFO, __file__, 1, "GET %s", (f"/x?access_token={OPAQUE}",), None)
    assert dirty.getMessage() == f"GET /x?access_token={REDACTED}"
    # The fast path: a record with nothing to redact keeps its very arguments.
    args = ("127.0.0.1:1", "GET", "/hubs/chat/negotiate?negotiateVersion=1", "1.1", 200)
    plain = logger.makeRecord(logger.name, logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', args, None)
    assert plain.args is args


def test_daphne_access_log_is_redacted() -> None:
    lines: list[tuple[str, str, dict]] = []
    log_action = redacting(lambda protocol, action, details: lines.append((protocol, action, details)))
    log_action("http", "complete", {"path": f"/hubs/chat?access_token={OPAQUE}", "status": 200, "client": "a:1"})
    assert lines == [
        ("http", "complete", {"path": f"/hubs/chat?access_token={REDACTED}", "status": 200, "client": "a:1"})
    ]


def test_the_daphne_entry_point_wraps_the_access_logger() -> None:
    from daphne.access import AccessLogGenerator

    stream = io.StringIO()
    server = RedactingServer(application=None, endpoints=["tcp:0"], action_logger=AccessLogGenerator(stream))
    server.log_action(
        "http",
        "complete",
        {"path": f"/hubs/chat?access_token={OPAQUE}", "status": 200, "method": "GET", "client": "a:1", "size": 0},
    )
    assert OPAQUE not in stream.getvalue()
    assert f'"GET /hubs/chat?access_token={REDACTED}" 200' in stream.getvalue()


# --- what issue #13 found under attack ---------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # Servers decode the query before they authenticate: encoded names, "=" and values count.
        (f"/hubs/chat?access%5Ftoken=%65{TOKEN[1:]}", f"/hubs/chat?access%5Ftoken={REDACTED}"),
        (f"/hubs/chat?%61ccess_token%3D{OPAQUE}", f"/hubs/chat?%61ccess_token%3D{REDACTED}"),
        (f"/hubs/chat?%69d={CONNECTION_TOKEN}", f"/hubs/chat?%69d={REDACTED}"),
        (f"/hubs/chat?id=%42{CONNECTION_TOKEN[1:]}&x=1", f"/hubs/chat?id={REDACTED}&x=1"),
        (f"next=%2Fhubs%3Fid%3D{CONNECTION_TOKEN}", f"next=%2Fhubs%3Fid%3D{REDACTED}"),
        (f"/x?t=%65{TOKEN[1:]}", f"/x?t={REDACTED}"),
        (f"Authorization: Bearer%20{OPAQUE}", f"Authorization: Bearer%20{REDACTED}"),
        # A JWT after any word boundary, and several in a row.
        (f"x-{TOKEN}.{TOKEN}", f"x-{REDACTED}.{REDACTED}"),
        (f"/a?t={TOKEN}&u={TOKEN}", f"/a?t={REDACTED}&u={REDACTED}"),
        # Still left alone: ids that are not tokens, JWT-like text without three segments.
        ("/articles?id=%34%32", "/articles?id=%34%32"),
        ("eyJhbGciOiJIUzI1NiJ9.only-two", "eyJhbGciOiJIUzI1NiJ9.only-two"),
    ],
)
def test_redact_encoded_and_repeated(line: str, expected: str) -> None:
    assert redact(line) == expected


ADVERSARIAL = {
    "-eyJ repeated": "-eyJ",
    "eyJ. repeated": "eyJ.",
    "id= runs": "?id=",
    "access_token= runs": "access_token=",
    "percent-encoded": "access%5Ftoken%3D%65yJ-%69d=",
    "bearer runs": "Bearer ",
    "quoted names": "'access_token': ",
}


def best_time(text: str) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        redact(text)
        best = min(best, time.perf_counter() - started)
    return best


@pytest.mark.parametrize("unit", list(ADVERSARIAL.values()), ids=list(ADVERSARIAL))
def test_redaction_is_linear(unit: str) -> None:
    # redact() runs on client-chosen text (every request line, every 4xx path). 128 times the
    # input must cost at most 10 times 128 times as much: a linear implementation is near 128,
    # a quadratic one near 16,000. (8 KB against 64 KB could not tell them apart with a 10x
    # margin: 8x linear, 64x quadratic.)
    small = (unit * (512 // len(unit) + 1))[:512]
    large = (unit * (65536 // len(unit) + 1))[:65536]
    ratio = best_time(large) / best_time(small)
    assert ratio < 128 * 10, f"{ratio:.0f}x the time for 128x the input"


@pytest.fixture
def reconfigure(settings):
    """Apply a LOGGING dict the way every django.setup() does; the suite's own LOGGING afterwards."""
    from django.conf import settings as live

    def apply(config: dict) -> None:
        django_log.configure_logging(live.LOGGING_CONFIG, config)

    yield apply
    django_log.configure_logging(live.LOGGING_CONFIG, live.LOGGING)


def streaming_config(stream: io.StringIO, *loggers: str) -> dict:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"mine": {"class": "logging.StreamHandler", "stream": stream, "formatter": "plain"}},
        "formatters": {"plain": {"format": "%(name)s %(message)s"}},
        "loggers": {name: {"handlers": ["mine"], "level": "DEBUG", "propagate": False} for name in loggers},
    }


def test_records_stay_clean_after_django_configures_logging_again(reconfigure) -> None:
    # Each django.setup() builds new handler objects; the filter once put on the old ones is gone.
    stream = io.StringIO()
    reconfigure(streaming_config(stream, "django_hubs", "daphne", "my_project"))
    logging.getLogger("django_hubs.connection").info("GET /hubs/chat?id=%s", CONNECTION_TOKEN)
    logging.getLogger("django_hubs.invocations").info("arguments=%s", [TOKEN])
    logging.getLogger("daphne.server").info(f'"GET /hubs/chat?access_token={OPAQUE} HTTP/1.1" 200')
    logging.getLogger("my_project.views").warning("calling with Bearer %s", OPAQUE)
    output = stream.getvalue()
    assert output.count(REDACTED) == 4, output
    for secret in (CONNECTION_TOKEN, TOKEN, OPAQUE):
        assert secret not in output


@override_settings(ADMINS=["admin@example.com"] if django.VERSION >= (6, 0) else [("Admin", "admin@example.com")])
def test_error_mails_show_no_token(reconfigure) -> None:
    reconfigure(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {"mail": {"class": "django.utils.log.AdminEmailHandler"}},
            "loggers": {"django.security": {"handlers": ["mail"], "level": "ERROR", "propagate": False}},
        }
    )
    request = RequestFactory().get(
        "/hubs/chat", {"id": CONNECTION_TOKEN, "access_token": OPAQUE, "other": TOKEN}, HTTP_AUTHORIZATION="Bearer x"
    )
    mail.outbox.clear()
    logging.getLogger("django.security.SuspiciousOperation").error(
        "bad request", extra={"request": request, "status_code": 400}
    )
    assert len(mail.outbox) == 1
    body = mail.outbox[0].body
    assert "GET:" in body and "id = '[REDACTED]'" in body
    for secret in (CONNECTION_TOKEN, OPAQUE, TOKEN):
        assert secret not in body


def test_asgi_application_does_not_configure_logging_again(monkeypatch) -> None:
    from django_hubs.asgi import get_asgi_application

    calls: list[object] = []
    monkeypatch.setattr(django_log, "configure_logging", lambda *args: calls.append(args))
    get_asgi_application()
    assert calls == []


def test_the_daphne_command_access_log(monkeypatch) -> None:
    # `daphne ... --access-log -` builds daphne.cli.AccessLogGenerator after importing the app.
    import daphne.access
    import daphne.cli

    original = daphne.access.AccessLogGenerator
    monkeypatch.setattr(daphne.cli, "AccessLogGenerator", original)
    install()
    stream = io.StringIO()
    daphne.cli.AccessLogGenerator(stream)(
        "http",
        "complete",
        {"path": f"/hubs/chat?id={CONNECTION_TOKEN}&access_token={TOKEN}", "status": 200, "method": "GET",
         "client": "a:1", "size": 0},
    )  # fmt: skip
    assert f'"GET /hubs/chat?id={REDACTED}&access_token={REDACTED}" 200' in stream.getvalue()
    install()  # idempotent: not wrapped twice
    assert daphne.cli.AccessLogGenerator.__bases__[-1] is original


class FakeContext:
    connection_id = "c"
    user_identifier = "1"


class FakeInvocation:
    hub_path = "hubs/chat"
    method_name = "send"
    context = FakeContext()

    def __init__(self, arguments: list[object]) -> None:
        self.arguments = arguments


@pytest.mark.parametrize("arguments", [["a " * 50 + TOKEN], [{"k": "a " * 50 + TOKEN}], [TOKEN + " x" * 50]])
def test_shortened_invocation_arguments_keep_no_part_of_a_token(caplog, arguments: list[object]) -> None:
    # reprlib keeps a long string's head and tail: the tail of a JWT is its signature, and
    # what is left is no longer three segments the redaction recognises.
    logged = InvocationLoggerFilter(arguments=True, max_argument_length=80)
    with caplog.at_level(logging.INFO, logger="django_hubs.invocations"):
        logged._log(FakeInvocation(arguments), "ok", time.perf_counter())  # type: ignore[arg-type]
    text = caplog.text
    assert "arguments=" in text
    for part in TOKEN.split("."):
        assert part[:8] not in text


def test_printable_escapes_what_would_start_a_new_line() -> None:
    from django_hubs.server.connection import printable

    assert printable("The protocol 'json\nINFO forged' is not supported.") == (
        "The protocol 'json\\nINFO forged' is not supported."
    )
    assert printable("json\r\nx\x1b[31m") == "json\\r\\nx\\x1b[31m"
    assert printable("ok 'json'") == "ok 'json'"


# --- negotiate version 0: the connection id is the token -----------------------------------


def test_a_hidden_connection_id_is_logged_as_its_alias_also_after_it_ended() -> None:
    secret = "AbCdEfGhIjKlMnOpQrStUv"
    other = "ZyXwVuTsRqPoNmLkJiHgFe"
    hubs_logging.hide_connection_id(secret)
    try:
        alias = hubs_logging.id_alias(secret)
        assert redact(f"connected {secret} hub=hubs/x") == f"connected {alias} hub=hubs/x"
        assert redact(f"closing {other}: bye") == f"closing {other}: bye"  # a version-1 id is no secret
        hubs_logging.forget_connection_id(secret)
        assert redact(f"disconnected {secret}") == f"disconnected {alias}"  # its last lines keep the alias
    finally:
        hubs_logging._ended_ids.pop(secret, None)


def test_ended_ids_are_kept_for_a_bounded_while() -> None:
    ids = [f"{n:022d}".replace("0", "A") for n in range(hubs_logging.ENDED_IDS_KEPT + 10)]
    for connection_id in ids:
        hubs_logging.hide_connection_id(connection_id)
        hubs_logging.forget_connection_id(connection_id)
    try:
        assert len(hubs_logging._ended_ids) == hubs_logging.ENDED_IDS_KEPT
        assert ids[0] not in hubs_logging._ended_ids and ids[-1] in hubs_logging._ended_ids
    finally:
        for connection_id in ids:
            hubs_logging._ended_ids.pop(connection_id, None)


def test_looking_for_hidden_ids_is_linear() -> None:
    hubs_logging.hide_connection_id("AbCdEfGhIjKlMnOpQrStUv")
    try:

        def cost(size: int) -> float:
            text = ("a" * 21 + " ") * (size // 22)
            started = time.perf_counter()
            for _ in range(5):
                redact(text)
            return time.perf_counter() - started

        small, large = cost(512), cost(65_536)
        assert large < small * 128 * 10  # 128 times the input: linear is ~128x, quadratic ~16,000x
    finally:
        hubs_logging.forget_connection_id("AbCdEfGhIjKlMnOpQrStUv")


@pytest.mark.django_db(transaction=True)
async def test_a_version_0_connection_id_never_reaches_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    import json

    from channels.testing import HttpCommunicator

    from django_hubs.testing import HubClient
    from tests.asgi import application

    caplog.set_level(logging.DEBUG)
    negotiate = HttpCommunicator(application, "POST", "/hubs/test/negotiate", headers=[(b"host", b"testserver")])
    negotiated = await negotiate.get_response(timeout=5)
    connection_id = json.loads(negotiated["body"])["connectionId"]
    async with HubClient("hubs/test", query=f"id={connection_id}") as client:
        assert await client.invoke("echo", connection_id) == connection_id  # the id as an argument too
    lines = "\n".join(record.getMessage() for record in caplog.records)
    assert f"connected {hubs_logging.id_alias(connection_id)}" in lines
    assert connection_id not in lines
