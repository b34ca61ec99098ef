"""The test registry helper itself: pushed images can be read back through the distribution API."""

import gzip
import io
import json
import tarfile

import requests

from tests.support import registry as support


def test_pushed_image_reads_back(registry):
    digest = registry.push_image("support/check", "v1", files={"/srv/hello.txt": "hello"})
    manifest = requests.get(
        f"{registry.url}/v2/support/check/manifests/v1",
        headers={"Accept": support.OCI_MANIFEST},
        timeout=10,
    )
    assert manifest.status_code == 200
    assert manifest.headers["Docker-Content-Digest"] == digest
    body = manifest.json()
    assert body["mediaType"] == support.OCI_MANIFEST
    assert len(body["layers"]) == 3
    top = requests.get(
        f"{registry.url}/v2/support/check/blobs/{body['layers'][-1]['digest']}", timeout=10
    )
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(top.content))) as tar:
        assert tar.extractfile("srv/hello.txt").read() == b"hello"
    config = requests.get(
        f"{registry.url}/v2/support/check/blobs/{body['config']['digest']}", timeout=10
    ).json()
    assert len(config["rootfs"]["diff_ids"]) == 3


def test_auth_registry_refuses_anonymous_and_accepts_its_user(auth_registry):
    assert requests.get(f"{auth_registry.url}/v2/", timeout=10).status_code == 401
    assert requests.get(f"{auth_registry.url}/v2/", auth=auth_registry.auth, timeout=10).ok
    digest = auth_registry.push_image("private/app", "latest", busybox=False, docker=True)
    assert digest.startswith("sha256:")


def test_index_over_a_manifest(registry):
    digest = registry.push_image("support/multi", "one", busybox=False)
    index = registry.push_index("support/multi", "latest", [digest])
    answer = requests.get(
        f"{registry.url}/v2/support/multi/manifests/latest",
        headers={"Accept": support.OCI_INDEX},
        timeout=10,
    )
    assert answer.headers["Docker-Content-Digest"] == index
    assert json.loads(answer.content)["manifests"][0]["digest"] == digest
