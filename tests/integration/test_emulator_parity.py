"""The emulator answers every probe as the real Outline server does (status, error code,
``Allow``/``Location`` and body shape; ids, passwords, ports, timestamps and usage figures
aside)."""

import json

from tests.integration.conftest import RealOutline
from tests.integration.probe_set import PROBES
from tests.integration.probes import Replay
from vpn.emulator import start_emulator


async def test_the_emulator_answers_every_probe_as_the_real_server_does(
    real_outline: RealOutline,
) -> None:
    real = await Replay(real_outline.api_url, real_outline.cert_sha256).replay(PROBES)
    running = await start_emulator(tls=True)
    try:
        emulated = await Replay(running.api_url, running.cert_sha256).replay(PROBES)
    finally:
        await running.stop()
    differences = [
        f"{probe}\n    real:     {json.dumps(a)}\n    emulator: {json.dumps(b)}"
        for probe, a, b in zip(PROBES, real, emulated, strict=True)
        if a != b
    ]
    assert not differences, f"{len(differences)} of {len(PROBES)} probes differ:\n" + "\n".join(
        differences
    )
