"""HTTP face of the emulator: the real paths under ``/user_objects``, JSON labelled text/html."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web

from autotoo.emulators.ukssdc import rebin
from autotoo.emulators.ukssdc.service import ServiceError, XrtService
from autotoo.xrtrequest.params import API_VERSION

PREFIX: Final = "/user_objects"
SERVICE_KEY: Final = web.AppKey("ukssdc_service", XrtService)
NOT_FOUND_HTML: Final = (
    "<!DOCTYPE html><html><head><title>404 Not Found</title></head>"
    "<body><h1>Not Found</h1><p>The requested URL was not found on this server.</p></body></html>"
)

Handler = Callable[[dict[str, Any], web.Request], dict[str, Any]]


def _reply(body: dict[str, Any]) -> web.Response:
    # The real server labels its JSON text/html; clients must not rely on the type.
    payload = {"OK": 1, **body, "APIVersion": API_VERSION}
    return web.Response(text=json.dumps(payload), content_type="text/html", charset="UTF-8")


def _endpoint(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def run(request: web.Request) -> web.Response:
        try:
            return _reply(handler(_body(await request.text()), request))
        except ServiceError as exc:
            error: dict[str, Any] = {"OK": 0, "ERROR": exc.error}
            if exc.list_err:
                error["listErr"] = exc.list_err
            return _reply(error)

    return run


def _body(text: str) -> dict[str, Any]:
    """The raw body is JSON whatever the Content-Type says (curl sends it as form data)."""
    try:
        body = json.loads(text)
    except json.JSONDecodeError:
        raise ServiceError("Could not parse the JSON you supplied.") from None
    if not isinstance(body, dict):
        raise ServiceError("The data you supplied are not a JSON object.")
    return body


def _not_found() -> web.Response:
    return web.Response(status=404, text=NOT_FOUND_HTML, content_type="text/html")


def setup_routes(app: web.Application, service: XrtService) -> None:
    app[SERVICE_KEY] = service

    def base_url(request: web.Request) -> str:
        return str(request.url.origin()) + PREFIX

    posts: dict[str, Handler] = {
        "run_userobject.php": lambda b, r: service.submit(b, base_url(r)),
        "checkProductStatus.php": lambda b, _r: service.status(b),
        "canceljob.php": lambda b, _r: service.cancel(b),
        "tprods/getPSFPos.php": lambda b, _r: service.position(b, "psf"),
        "tprods/getEnhPos.php": lambda b, _r: service.position(b, "enh"),
        "tprods/getAstromPos.php": lambda b, _r: service.position(b, "xastrom"),
        "tprods/getXastromPos.php": lambda b, _r: service.position(b, "xastrom"),  # <= v1.9 name
        "tprods/getSourceDetResults.php": lambda b, _r: service.source_list(b),
        "tprods/getLCData.php": lambda b, _r: service.light_curve(b),
        "tprods/getSpecData.php": lambda b, _r: service.spectrum(b),
        "getOldProduct.php": lambda b, _r: service.old_product(b),
        "getNumJobs.php": lambda b, _r: service.num_jobs(b),
        "listOldJobs.php": lambda b, _r: service.list_old_jobs(b),
    }
    for path, handler in posts.items():
        app.router.add_post(f"{PREFIX}/{path}", _endpoint(handler))

    async def download(request: web.Request) -> web.Response:
        data = service.download(int(request.match_info["job"]), request.match_info["name"])
        if data is None:
            return _not_found()
        return web.Response(body=data, content_type="application/octet-stream")

    async def unknown(_request: web.Request) -> web.Response:
        return _not_found()

    app.router.add_get(PREFIX + r"/tprods/USERPROD_{job:\d+}/{name:.+}", download)
    rebin.setup_routes(app, service, files_prefix=PREFIX)  # /API/main.php and REBIN_<id> files
    app.router.add_route("*", PREFIX + "/{tail:.*}", unknown)
