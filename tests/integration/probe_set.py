"""The probes replayed against the real Outline server and the emulator (see ``probes``)."""

from tests.integration.probes import Probe

P = Probe
LIMIT = "/server/access-key-data-limit"
PORT = "/server/port-for-new-access-keys"
HOST = "/server/hostname-for-access-keys"
METRICS = "/experimental/server/metrics?since="

SERVER = [
    P("GET", "/server"),
    P("GET", "/server/"),
    P("GET", "//server//"),
    P("POST", "/server"),
    P("HEAD", "/server"),
    P("OPTIONS", "/server"),
    P("GET", "/nothing"),
    P("DELETE", "/access-keys/{key:a}/nothing"),
    P("GET", ""),
    P("PUT", "/name", {"name": "parity probe"}),
    P("GET", "/server"),
    *(P("PUT", "/name", body) for body in ({}, {"name": ""}, {"name": None}, {"name": 0})),
    *(P("PUT", "/name", {"name": n}) for n in (5, ["a"], {"a": 1}, True, "x" * 101, "😀" * 51)),
    P("PUT", "/name", {"name": "😀" * 50}),
    P("PUT", "/name", raw="[1]"),
    P("PUT", "/name", raw='"just text"'),
    P("PUT", "/name", raw='{"name": '),
    P("PUT", "/name", raw='{"name": "plain"}', ctype="text/plain"),
    P("PUT", "/name", raw='{"name": "vendor json"}', ctype="application/vnd.probe+json"),
    P("GET", "/server"),
]
HOSTNAME = [
    *(P("PUT", HOST, body) for body in ({}, {"hostname": None}, {"hostname": 5})),
    *(
        P("PUT", HOST, {"hostname": h})
        for h in ("-bad.example", "a..b", "bad host!", "1.2.3.4:80", "", "ex_ample.com")
    ),
    P("PUT", HOST, {"hostname": "an 10.0.0.1 in text"}),
    P("PUT", HOST, {"hostname": "localhost"}),
    P("PUT", HOST, {"hostname": "::1"}),
    P("PUT", "/access-keys/{key:v6}", {}),
    P("PUT", HOST, {"hostname": "127.0.0.1"}),
    P("GET", "/access-keys/{key:v6}"),
    P("GET", "/server"),
]
KEYS = [
    P("GET", "/access-keys"),
    P("GET", "/access-keys/"),
    P("PUT", "/access-keys/"),
    P("PUT", "/access-keys/{key:a}", {"name": "parity", "id": "ignored"}),
    P("PUT", "/access-keys/{key:a}", {}),
    P("PUT", "/access-keys/{key:a}", {"name": 5}),
    P("PUT", "/access-keys/{key:a}", {"method": "rc4-md5"}),
    P("GET", "/access-keys/{key:a}"),
    P("GET", "/access-keys/{key:a}/"),
    P("GET", "/access-keys/{key:gone}"),
    P("DELETE", "/access-keys/{key:gone}"),
    P("PATCH", "/access-keys/{key:a}"),
    P("POST", "/access-keys/{key:a}"),
    P("POST", "/access-keys", {}),
    P("POST", "/access-keys"),
    P("POST", "/access-keys", {"id": "mine"}),
    P("POST", "/access-keys", {"id": ""}),
    P("POST", "/access-keys", {"name": "n", "method": "aes-256-gcm", "limit": {"bytes": 1000}}),
    P("POST", "/access-keys", raw="[1, 2]"),
    P("POST", "/access-keys", raw="5"),
    P("POST", "/access-keys", raw='{"name": "plain"}', ctype="text/plain"),
    P("POST", "/access-keys", raw="{oops"),
    *(
        P("POST", "/access-keys", body)
        for body in (
            {"method": "rc4-md5"},
            {"method": 5},
            {"method": None},
            {"name": 5},
            {"name": None},
            {"name": False, "method": ""},
            {"password": 5},
            {"password": None},
            {"port": None},
            {"port": "1"},
            {"port": 0},
            {"port": 1.5},
            {"port": 70000},
            {"port": "{api_port}"},
            {"port": "{keys_port}"},
            {"limit": None},
            {"limit": False},
            {"limit": 5},
            {"limit": {}},
            {"limit": {"bytes": -1}},
            {"limit": {"bytes": 1.5}},
            {"limit": {"bytes": "5"}},
            {"limit": {"bytes": 0}},
            {"limit": {"bytes": 1e3}},
            {"method": "rc4-md5", "name": 5},
            {"method": "rc4-md5", "port": "{api_port}"},
        )
    ),
    P("PUT", "/access-keys/{key:shared1}", {"password": "parity-shared-secret"}),
    P("PUT", "/access-keys/{key:shared2}", {"password": "parity-shared-secret"}),
    P("PUT", "/access-keys/{key:empty}", {"password": ""}),
    P("PUT", "/access-keys/{key:empty2}", {"password": ""}),
    P("PUT", "/access-keys/{key:port}", {"port": "{free_port}"}),
    P("PUT", "/access-keys/{key:raw1}", raw="[1]"),
    P("PUT", "/access-keys/{key:raw2}", raw='"text"'),
    P("PUT", "/access-keys/{key:raw3}", raw="true"),
    P("PUT", "/access-keys/{key:raw4}", raw="null"),
    P("PUT", "/access-keys/{key:raw5}", raw="0"),
    P("PUT", "/access-keys/{key:raw6}", raw=""),
    P("PUT", "/access-keys/{key:raw7}", raw='{"name": "x"}', ctype=None),
    P("PUT", "/access-keys/{key:raw8}", raw='{"name": "plus"}', ctype="application/x.y+json"),
    P("PUT", "/access-keys/{key:sp}%20and%20space", {"name": "spaced"}),
    P("GET", "/access-keys/{key:sp}%20and%20space"),
    P("PUT", "/access-keys/{key:sl}%2Fslash", {}),
    P("GET", "/access-keys/{key:sl}%2Fslash"),
    P("GET", "/access-keys"),
]
KEY_CHANGES = [
    P("PUT", "/access-keys/{key:a}/name", {"name": "renamed"}),
    *(
        P("PUT", "/access-keys/{key:a}/name", body)
        for body in ({}, {"name": ""}, {"name": 5}, {"name": None}, {"name": ["x"]})
    ),
    P("PUT", "/access-keys/{key:a}/name", {"name": "n" * 300}),
    P("PUT", "/access-keys/{key:a}/name", raw='"text"'),
    P("PUT", "/access-keys/{key:gone}/name", {"name": "x"}),
    P("PUT", "/access-keys/{key:gone}/name", {}),
    P("GET", "/access-keys/{key:a}/name"),
    P("PUT", "/access-keys/{key:a}/data-limit", {"limit": {"bytes": 100}}),
    P("GET", "/access-keys/{key:a}"),
    *(
        P("PUT", "/access-keys/{key:a}/data-limit", {"limit": bad})
        for bad in (None, False, 0, {}, {"bytes": -1}, {"bytes": 2.5}, {"bytes": None})
    ),
    P("PUT", "/access-keys/{key:a}/data-limit", {}),
    P("GET", "/access-keys/{key:a}"),
    P("PUT", "/access-keys/{key:a}/data-limit", {"limit": {"bytes": 0}}),
    P("DELETE", "/access-keys/{key:a}/data-limit"),
    P("GET", "/access-keys/{key:a}"),
    P("PUT", "/access-keys/{key:gone}/data-limit", {"limit": {"bytes": 1}}),
    P("PUT", "/access-keys/{key:gone}/data-limit", {"limit": None}),
    P("DELETE", "/access-keys/{key:gone}/data-limit"),
    P("GET", "/access-keys/{key:a}/data-limit"),
    P("DELETE", "/access-keys/{key:a}"),
    P("GET", "/access-keys/{key:a}"),
    P("DELETE", "/access-keys/{key:a}"),
]
SETTINGS = [
    *(P("PUT", PORT, body) for body in ({}, {"port": None}, {"port": "80"}, {"port": True})),
    *(P("PUT", PORT, {"port": port}) for port in (0, -1, 1.5, 65536, "{api_port}")),
    P("PUT", PORT, {"port": "{free_port}"}),
    P("GET", "/server"),
    P("PUT", PORT, {"port": "{keys_port}"}),
    P("GET", "/server"),
    P("PUT", LIMIT, {"limit": {"bytes": 10**15}}),
    P("GET", "/server"),
    P("PUT", LIMIT, {}),
    P("GET", "/server"),
    *(
        P("PUT", LIMIT, {"limit": bad})
        for bad in (None, 5, {}, {"bytes": -1}, {"bytes": "5"}, {"bytes": 0.5})
    ),
    P("PUT", LIMIT, {"limit": {"bytes": 10**15}}),
    P("DELETE", LIMIT),
    P("GET", "/server"),
    P("GET", LIMIT),
    P("PUT", "/experimental/access-key-data-limit", {"limit": {"bytes": 1}}),
    P("DELETE", "/experimental/access-key-data-limit"),
    P("GET", "/experimental/access-key-data-limit"),
    P("PUT", "/experimental/access-key-data-limit", raw="{bad json"),
    P("GET", "/server"),
    P("GET", "/metrics/enabled"),
    P("PUT", "/metrics/enabled", {"metricsEnabled": False}),
    *(
        P("PUT", "/metrics/enabled", body)
        for body in (
            {},
            {"metricsEnabled": None},
            {"metricsEnabled": "false"},
            {"metricsEnabled": 0},
        )
    ),
    P("POST", "/metrics/enabled"),
    P("GET", "/metrics/enabled"),
]
USAGE = [
    P("GET", "/metrics/transfer"),
    P("POST", "/metrics/transfer"),
    P("GET", "/experimental/server/metrics"),
    P("DELETE", METRICS + "1h"),
    *(
        P("GET", METRICS + since)
        for since in (
            "1h", "300s", "1d", "1w", "30d", "38d", "1.5h", "0x10s", "%201h", "+5s", "1e3s",
            "0s", "s", "-1h", "-0s", "2.5s", "40d", "3300300s", "Infinitys",
            "", "1m", "60", "1H", "1_0s", "1h&since=2h",
        )
    ),
]  # fmt: skip
PROBES: list[Probe] = [*SERVER, *HOSTNAME, *KEYS, *KEY_CHANGES, *SETTINGS, *USAGE]
