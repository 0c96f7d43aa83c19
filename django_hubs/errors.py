"""``HubError`` and the error texts the official server sends (spec section 8), to the letter."""

from __future__ import annotations


class HubError(Exception):
    """An error whose message always reaches the client, as ASP.NET Core's ``HubException``."""

    wire_name = "HubException"


class InvalidDataError(Exception):
    """Arguments that do not fit the hub method; the .NET name is ``InvalidDataException``."""

    wire_name = "InvalidDataException"


def exception_name(exc: BaseException) -> str:
    return getattr(type(exc), "wire_name", None) or type(exc).__name__


def describe(exc: BaseException) -> str:
    return f"{exception_name(exc)}: {exc}"


def error_text(generic: str, exc: BaseException | None, detailed: bool) -> str:
    """``generic``, plus the exception when detailed errors are on or it is a ``HubError``."""
    if exc is not None and (detailed or isinstance(exc, HubError)):
        return f"{generic} {describe(exc)}"
    return generic


def invoke_failed(target: str) -> str:
    return f"An unexpected error occurred invoking '{target}' on the server."


def binding_failed(target: str) -> str:
    return f"Failed to invoke '{target}' due to an error on the server."


def unauthorized(target: str) -> str:
    return f"Failed to invoke '{target}' because user is unauthorized"


STREAM_FAILED = "An error occurred on the server while streaming results."
CONNECTION_ERROR = "Connection closed with an error."
METHOD_DOES_NOT_EXIST = "Method does not exist."
BINDING_ARGUMENTS = (
    "Error binding arguments. Make sure that the types of the provided values "
    "match the types of the hub method being invoked."
)


def streaming_as_plain(target: str) -> str:
    return f"The client attempted to invoke the streaming '{target}' method with a non-streaming invocation."


def plain_as_streaming(target: str) -> str:
    return f"The client attempted to invoke the non-streaming '{target}' method with a streaming invocation."


def not_a_stream(target: str) -> str:
    return f"The value returned by the streaming method '{target}' is not a ChannelReader<> or IAsyncEnumerable<>."


def id_in_use(invocation_id: str) -> str:
    return f"Invocation ID '{invocation_id}' is already in use."


def stream_count_mismatch(sent: int, expected: int) -> str:
    return f"Client sent {sent} stream(s), Hub method expects {expected}."


def stream_id_in_use(stream_id: str) -> str:
    """A stream id that names an upload still open: worded as the official ``id_in_use``."""
    return f"Stream ID '{stream_id}' is already in use."


def too_many_streams(target: str, limit: int) -> str:
    """Past ``HUBS_MAX_STREAMS_PER_CONNECTION``: worded as the official server's other refusals."""
    return (
        f"Failed to invoke '{target}' because it would open more than {limit} streams "
        "on this connection at once (HUBS_MAX_STREAMS_PER_CONNECTION)."
    )


#: What detailed errors add to a canceled invocation's text: the .NET exception a canceled
#: ``CancellationToken`` raises in a hub method.
CANCELED = "OperationCanceledException: The operation was canceled."


def canceled(target: str, detailed: bool) -> str:
    """The Completion of an invocation the client canceled, as the official server's when the
    hub method lets its ``OperationCanceledException`` out."""
    generic = invoke_failed(target)
    return f"{generic} {CANCELED}" if detailed else generic


__all__ = ["HubError", "InvalidDataError"]
