"""An engine client per resource pool, cached per process while the pool is unchanged.

The built-in pool's engine is CODER_DOCKER_HOST (unchecked: the operator chose it); every other
pool's `cluster_address` goes through app.provisioner.endpoints' rules each time a client is
made for it. A pool's TLS material is decrypted into files of a private folder (0700, files
0600) for the docker SDK, removed when the pool changes or the process ends.

Clients are shared by every thread of the process: `close()` on what `engine_for` returns does
nothing (callers may keep calling it as they do for their own engines); `forget` drops one.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
import threading

from app import crypto
from app.models import ResourcePool
from app.models.resource_pools import BUILT_IN_ID, built_in
from app.provisioner import endpoints
from app.provisioner import engine as engines

log = logging.getLogger("pycoderd.provisioner.pools")

HEALTH_TIMEOUT = 5.0  # seconds a health check waits for an engine's answer


class Shared:
    """An engine others use too: everything but `close`."""

    def __init__(self, engine):
        self._engine = engine

    def __getattr__(self, name):
        return getattr(self._engine, name)

    def close(self) -> None:
        pass


_lock = threading.Lock()
_cache: dict[str, tuple[tuple, object, str]] = {}  # pool id -> (key, engine, TLS folder)


def allowed_hosts(settings) -> frozenset[str]:
    return endpoints.normalize_allowed(settings["pycoderd.resource_pool_allowed_hosts"] or [])


def address_of(settings, pool: ResourcePool) -> str:
    return engines.docker_host(settings) if pool.built_in else pool.cluster_address


def _key(settings, pool: ResourcePool) -> tuple:
    return (address_of(settings, pool), pool.updated_at, allowed_hosts(settings))


def engine_for(settings, secret_key: str, pool: ResourcePool):
    """The pool's engine (shared); NoEngine without an address, EngineError when refused."""
    key = _key(settings, pool)
    with _lock:
        cached = _cache.get(pool.id)
        if cached is not None and cached[0] == key:
            return Shared(cached[1])
    engine, folder = _make(settings, secret_key, pool)
    with _lock:
        old = _cache.get(pool.id)
        _cache[pool.id] = (key, engine, folder)
    if old is not None:
        _dispose(old)
    return Shared(engine)


def pool_for(pool_id: str) -> ResourcePool:
    """A workspace's pool row (empty: the built-in one); EngineError if it is gone."""
    if not pool_id or pool_id == BUILT_IN_ID:
        return built_in()
    pool = ResourcePool.get_or_none(ResourcePool.id == pool_id)
    if pool is None:
        raise engines.EngineError(f"the workspace's resource pool {pool_id} no longer exists")
    return pool


def engine_for_pool_id(settings, secret_key: str, pool_id: str):
    return engine_for(settings, secret_key, pool_for(pool_id))


def forget(pool_id: str) -> None:
    with _lock:
        old = _cache.pop(pool_id, None)
    if old is not None:
        _dispose(old)


def _dispose(entry) -> None:
    _, engine, folder = entry
    try:
        engine.close()
    except Exception:  # noqa: BLE001 - a client that will not close is dropped all the same
        pass
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


@atexit.register
def _forget_all() -> None:
    for pool_id in list(_cache):
        forget(pool_id)


def _make(settings, secret_key: str, pool: ResourcePool):
    from app.provisioner import docker_engine

    address = address_of(settings, pool)
    if not address:
        raise engines.NoEngine()
    if pool.built_in:
        return docker_engine.DockerEngine(address), ""
    try:
        endpoint = endpoints.parse(address)
        endpoints.check(endpoint, allowed_hosts(settings))
    except endpoints.Refused as exc:
        raise engines.EngineError(f'resource pool "{pool.name}": {exc}') from None
    folder = ""
    tls = None
    if endpoint.scheme == "tcp" and (pool.tls_ca_encrypted or pool.tls_cert_encrypted):
        folder, tls = _tls_files(secret_key, pool)
    try:
        return docker_engine.DockerEngine(endpoint.url, tls=tls), folder
    except BaseException:
        if folder:
            shutil.rmtree(folder, ignore_errors=True)
        raise


def _tls_files(secret_key: str, pool: ResourcePool):
    from docker.tls import TLSConfig

    try:
        material = {
            name: crypto.decrypt(secret_key, value) if value else ""
            for name, value in (
                ("ca.pem", pool.tls_ca_encrypted),
                ("cert.pem", pool.tls_cert_encrypted),
                ("key.pem", pool.tls_key_encrypted),
            )
        }
    except ValueError:
        raise engines.EngineError(
            f'the TLS material of resource pool "{pool.name}" cannot be decrypted (was the '
            "secret key changed?); set it again"
        ) from None
    folder = tempfile.mkdtemp(prefix="pycoderd-pool-")
    os.chmod(folder, 0o700)
    paths = {}
    for name, text in material.items():
        if text:
            path = os.path.join(folder, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
            paths[name] = path
    client_cert = (paths["cert.pem"], paths["key.pem"]) if "cert.pem" in paths else None
    ca = paths.get("ca.pem")
    return folder, TLSConfig(client_cert=client_cert, ca_cert=ca, verify=ca or True)


def check_health(settings, secret_key: str, pool: ResourcePool) -> str:
    """Ask the pool's engine whether it answers; save and return the verdict (ready, pending
    without an engine, unreachable with the reason). Does not touch `updated_at`."""
    from app.models.base import utcnow
    from app.models.resource_pools import PENDING, READY, UNREACHABLE

    try:
        engine_for(settings, secret_key, pool).ping(HEALTH_TIMEOUT)
    except engines.NoEngine as exc:
        verdict, error = PENDING, str(exc)
    except engines.EngineError as exc:
        verdict, error = UNREACHABLE, str(exc)
    else:
        verdict, error = READY, ""
    ResourcePool.update(status=verdict, status_error=error, checked_at=utcnow()).where(
        ResourcePool.id == pool.id
    ).execute()
    return verdict


def check_all(settings, secret_key: str) -> dict[str, str]:
    """One health round: every pool checked at once (a thread each, so a silent engine delays
    no other); returns pool id -> verdict."""
    from app.db import database

    with database.connection_context():
        built_in()
        every = list(ResourcePool.select())
    verdicts: dict[str, str] = {}

    def check(pool: ResourcePool) -> None:
        try:
            with database.connection_context():
                verdict = check_health(settings, secret_key, pool)
        except Exception:
            log.exception("checking resource pool %s failed", pool.id)
            return
        verdicts[pool.id] = verdict
        if verdict != (pool.status or verdict):
            log.warning('resource pool "%s" is now %s', pool.name, verdict)

    threads = [threading.Thread(target=check, args=(p,), daemon=True) for p in every]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return verdicts


def start_health_thread(app, stop: threading.Event) -> threading.Thread:
    """The background loop checking every pool each CODER_RESOURCE_POOL_HEALTH_INTERVAL."""
    settings, secret_key = app.config["SETTINGS"], app.config["SECRET_KEY"]
    interval = max(0.5, settings["pycoderd.resource_pool_health_interval"] / 1e9)

    def run() -> None:
        while not stop.is_set():
            try:
                check_all(settings, secret_key)
            except Exception:
                log.exception("the resource pool health round failed")
            stop.wait(interval)

    thread = threading.Thread(target=run, name="pool-health", daemon=True)
    thread.start()
    return thread
