"""OpenSC, an independent client, against the virtual card in vpcd's PC/SC reader.

pcscd runs in the foreground with its own reader.conf.d holding only vpcd, and the card is served
by ``manage.py serve_card --vpcd``. vpcd (vsmartcard 3.3) can only listen on every interface and
its reverse mode (vpcd connecting to the card) aborts pcscd on a reconnect, so where possible the
whole PC/SC stack runs in private network and mount namespaces (``unshare``, root): vpcd's port is
then only on a loopback nobody else shares, and pcscd's socket is a private /run/pcscd. Without
namespaces the test uses the host, on free ports, when no other pcscd is running.
"""

import glob
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from homeconsent.jpki.card import VirtualJPKICard
from tests.jpki.virtual_cards import CARD_PIN, card_pki, card_template, free_port  # noqa: F401

pytestmark = pytest.mark.opensc

REPO = Path(__file__).resolve().parents[2]
TOOLS = ("pcscd", "opensc-tool", "pkcs15-tool", "pkcs11-tool")
VPCD_DRIVERS = (
    "/usr/lib/pcsc/drivers/serial/libifdvpcd.so",
    "/usr/local/lib/pcsc/drivers/serial/libifdvpcd.so",
)
PKCS11_MODULES = (
    "/usr/lib/*/opensc-pkcs11.so",
    "/usr/lib/*/pkcs11/opensc-pkcs11.so",
    "/usr/lib64/opensc-pkcs11.so",
    "/usr/lib64/pkcs11/opensc-pkcs11.so",
    "/usr/local/lib/opensc-pkcs11.so",
    "/usr/local/lib/pkcs11/opensc-pkcs11.so",
)
# OpenSC's own defaults, whatever the machine's opensc.conf says.
OPENSC_CONF = "app default {\n}\n"


def _first(patterns):
    for pattern in patterns:
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    return None


def _namespaces_work() -> bool:
    if not shutil.which("unshare") or not shutil.which("nsenter") or not shutil.which("ip"):
        return False
    probe = subprocess.run(
        [
            "unshare",
            "--net",
            "--mount",
            "--fork",
            "--",
            "sh",
            "-c",
            "ip link set lo up && mount -t tmpfs tmpfs /run",
        ],
        capture_output=True,
        timeout=10,
    )
    return probe.returncode == 0


def _host_pcscd_running() -> bool:
    try:
        pid = int(Path("/run/pcscd/pcscd.pid").read_bytes().strip(b"\0\n "))
    except (OSError, ValueError):
        return False
    return Path(f"/proc/{pid}").exists()  # a stale pid file is cleaned up by pcscd itself


class PcscStack:
    """pcscd + vpcd + the card process, and a way to run tools beside them."""

    def __init__(self, workdir: Path, card_file: Path):
        self.workdir = workdir
        self.card_file = card_file
        self.prefix: list[str] = []
        self.holder = None
        self.processes: list[subprocess.Popen] = []
        self.env = dict(
            os.environ, OPENSC_CONF=str(workdir / "opensc.conf"), DJANGO_SETTINGS_MODULE="tests.settings"
        )
        (workdir / "opensc.conf").write_text(OPENSC_CONF)

    def start(self, vpcd_driver: str, isolated: bool):
        if isolated:
            ready = self.workdir / "ns-ready"
            holder = subprocess.Popen(
                [
                    "unshare",
                    "--net",
                    "--mount",
                    "--fork",
                    "--kill-child",
                    "--",
                    "sh",
                    "-c",
                    f"ip link set lo up && mount -t tmpfs tmpfs /run && echo $$ > {ready} && exec sleep 600",
                ],
            )
            self.processes.append(holder)
            self.holder = holder
            deadline = time.monotonic() + 5
            while not (ready.exists() and ready.read_text().strip()):
                if time.monotonic() > deadline or holder.poll() is not None:
                    raise RuntimeError("the namespace did not come up")
                time.sleep(0.05)
            self.prefix = ["nsenter", "--target", ready.read_text().strip(), "--net", "--mount", "--"]
            port = 35963
        else:
            port = free_port(kind=socket.SOCK_STREAM)
        conf = self.workdir / "reader.conf.d"
        conf.mkdir()
        (conf / "vpcd").write_text(
            f'FRIENDLYNAME "HomeConsent Virtual PCD"\nDEVICENAME /dev/null:0x{port:04X}\n'
            f"LIBPATH {vpcd_driver}\nCHANNELID 0x{port:04X}\n"
        )
        self.pcscd_log = open(self.workdir / "pcscd.log", "w")
        self.pcscd_argv = ["pcscd", "--foreground", "--config", str(conf)]
        self.pcscd = self._spawn(self.pcscd_argv, self.pcscd_log)
        self.card_log = open(self.workdir / "card.log", "w")
        self._spawn(
            [
                sys.executable,
                str(REPO / "manage.py"),
                "serve_card",
                str(self.card_file),
                "--vpcd",
                f"127.0.0.1:{port}",
            ],
            self.card_log,
        )
        self.wait_for_card()

    def wait_for_card(self, seconds=60):  # a condition, not a delay: room for a busy machine
        deadline = time.monotonic() + seconds
        while self.run("opensc-tool", "--name").returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("the card did not appear in vpcd's reader:\n" + self.logs())
            time.sleep(0.3)

    def restart_pcscd(self):
        self.pcscd.terminate()
        self.pcscd.wait(10)
        self.pcscd = self._spawn(self.pcscd_argv, self.pcscd_log)

    def _spawn(self, argv, log):
        process = subprocess.Popen(
            self.prefix + argv, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=REPO
        )
        self.processes.append(process)
        return process

    def run(self, *argv) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.prefix + list(argv), capture_output=True, text=True, env=self.env, timeout=30
        )

    def logs(self) -> str:
        return "\n".join(
            p.read_text()[-2000:]
            for p in (self.workdir / "pcscd.log", self.workdir / "card.log")
            if p.exists()
        )

    def stop(self):
        for process in reversed(self.processes):
            if process is self.holder:
                process.kill()  # unshare waits out SIGTERM; --kill-child takes the namespace down with it
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        for log in ("pcscd_log", "card_log"):
            if hasattr(self, log):
                getattr(self, log).close()


@pytest.fixture(scope="module")
def pcsc(card_template, tmp_path_factory):  # noqa: F811
    missing = [tool for tool in TOOLS if not shutil.which(tool)]
    vpcd_driver = _first(VPCD_DRIVERS)
    if missing or not vpcd_driver:
        pytest.skip(
            f"needs opensc, pcscd and vsmartcard-vpcd (missing: {', '.join(missing) or 'libifdvpcd.so'})"
        )
    isolated = _namespaces_work()
    if not isolated and _host_pcscd_running():
        pytest.skip("another pcscd is running and namespaces (unshare) are not available to keep ours apart")
    workdir = tmp_path_factory.mktemp("pcsc")
    card_file = workdir / "card.json"
    shutil.copy2(card_template, card_file)
    stack = PcscStack(workdir, card_file)
    try:
        stack.start(vpcd_driver, isolated)
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def pkcs11_module():
    module = _first(PKCS11_MODULES)
    if not module:
        pytest.skip("opensc-pkcs11.so not found")
    return module


def test_opensc_names_the_card_jpki(pcsc):
    result = pcsc.run("opensc-tool", "--name")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "jpki"


def test_pkcs15_lists_the_user_authentication_pin_and_certificate(pcsc):
    result = pcsc.run("pkcs15-tool", "--dump")
    assert result.returncode == 0, result.stderr + pcsc.logs()
    assert "User Authentication PIN" in result.stdout
    assert "User Authentication Certificate" in result.stdout
    assert user_auth_tries_left(result.stdout) == VirtualJPKICard.load(pcsc.card_file).tries_left


def test_pkcs15_reads_the_certificate_byte_exact(pcsc):
    result = subprocess.run(
        pcsc.prefix + ["pkcs15-tool", "--read-certificate", "01"],
        capture_output=True,
        env=pcsc.env,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    certificate = x509.load_pem_x509_certificate(result.stdout)
    assert certificate == x509.load_der_x509_certificate(VirtualJPKICard.load(pcsc.card_file).auth_cert_der)


def test_pkcs11_signs_with_the_pin_and_the_signature_verifies(pcsc, pkcs11_module):
    data = pcsc.workdir / "challenge.bin"
    data.write_bytes(b"HomeConsent challenge signed through OpenSC")
    signature_file = pcsc.workdir / "signature.bin"
    result = pcsc.run(
        "pkcs11-tool",
        "--module",
        pkcs11_module,
        "--login",
        "--pin",
        CARD_PIN,
        "--sign",
        "--id",
        "01",
        "--mechanism",
        "SHA256-RSA-PKCS",
        "--input-file",
        str(data),
        "--output-file",
        str(signature_file),
    )
    assert result.returncode == 0, result.stdout + result.stderr + pcsc.logs()
    certificate = x509.load_der_x509_certificate(VirtualJPKICard.load(pcsc.card_file).auth_cert_der)
    certificate.public_key().verify(
        signature_file.read_bytes(), data.read_bytes(), padding.PKCS1v15(), hashes.SHA256()
    )


def test_a_wrong_pin_through_pkcs11_lowers_the_tries_left(pcsc, pkcs11_module):
    before = VirtualJPKICard.load(pcsc.card_file).tries_left
    assert before >= 2
    result = pcsc.run("pkcs11-tool", "--module", pkcs11_module, "--login", "--pin", "9999", "--list-objects")
    assert result.returncode != 0
    assert "CKR_PIN_INCORRECT" in result.stdout + result.stderr
    assert VirtualJPKICard.load(pcsc.card_file).tries_left == before - 1
    assert user_auth_tries_left(pcsc.run("pkcs15-tool", "--list-pins").stdout) == before - 1


def user_auth_tries_left(listing: str) -> int:
    block = listing.split("PIN [User Authentication PIN]", 1)[1].split("PIN [", 1)[0]
    return int(re.search(r"Tries left\s*:\s*(\d+)", block).group(1))


def test_the_card_comes_back_after_pcscd_restarts(pcsc):
    # when
    pcsc.restart_pcscd()
    # then: the card process reconnects to the new vpcd by itself
    pcsc.wait_for_card(seconds=10)
    assert pcsc.run("opensc-tool", "--name").stdout.strip() == "jpki"
