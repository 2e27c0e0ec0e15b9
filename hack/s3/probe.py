"""Exercise the bucket CORS API of the test S3 servers and print what each one answers.

Run with the moto venv's Python (it has boto3, botocore and requests), with the servers' env loaded:

    hack/s3/with-s3.sh hack/s3/verify.sh          # starts the servers if needed
    "$MOTO_VENV/bin/python" hack/s3/probe.py [--markdown] [--server moto|versitygw]...

Part 1 is a check that must pass (exit 1 otherwise): boto3 create bucket, PutBucketCors with two
rules, GetBucketCors returns them in order, DeleteBucketCors, GetBucketCors fails with
NoSuchCORSConfiguration. Part 2 records behaviour (error codes, checksum handling, normalisation,
preflight answers); it only reports, it asserts nothing. Requests in part 2 are signed by hand
(botocore's S3 SigV4 signer) so that body and headers are exactly what the probe says.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import sys
import uuid
import zlib
from dataclasses import dataclass
from xml.etree import ElementTree

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import requests
from botocore.exceptions import ClientError


@dataclass
class Server:
    name: str
    url: str
    access_key: str
    secret_key: str
    region: str
    user_access_key: str | None = None
    user_secret_key: str | None = None


def servers_from_env(only: list[str]) -> list[Server]:
    region = os.environ.get("BUCKETCORS_S3_REGION", "us-east-1")
    found = []
    moto = os.environ.get("BUCKETCORS_MOTO_URL")
    if moto:
        found.append(Server("moto", moto.rstrip("/"),
                            os.environ.get("BUCKETCORS_MOTO_ACCESS_KEY", "testing"),
                            os.environ.get("BUCKETCORS_MOTO_SECRET_KEY", "testing"), region))
    vgw = os.environ.get("BUCKETCORS_VERSITYGW_URL")
    if vgw:
        found.append(Server("versitygw", vgw.rstrip("/"),
                            os.environ["BUCKETCORS_VERSITYGW_ACCESS_KEY"],
                            os.environ["BUCKETCORS_VERSITYGW_SECRET_KEY"], region,
                            os.environ.get("BUCKETCORS_VERSITYGW_USER_ACCESS_KEY"),
                            os.environ.get("BUCKETCORS_VERSITYGW_USER_SECRET_KEY")))
    if only:
        found = [s for s in found if s.name in only]
    if not found:
        sys.exit("probe.py: no server URLs in the environment (BUCKETCORS_MOTO_URL, BUCKETCORS_VERSITYGW_URL)")
    return found


# ---------------------------------------------------------------------------------------------
# raw signed requests

@dataclass
class Answer:
    status: int
    headers: dict
    body: bytes

    @property
    def code(self) -> str:
        """The S3 error code from an XML error body, or '-'."""
        try:
            root = ElementTree.fromstring(self.body)
        except ElementTree.ParseError:
            return "-"
        for el in root.iter():
            if el.tag.split("}")[-1] == "Code":
                return el.text or ""
        return "-"

    @property
    def message(self) -> str:
        try:
            root = ElementTree.fromstring(self.body)
        except ElementTree.ParseError:
            return ""
        for el in root.iter():
            if el.tag.split("}")[-1] == "Message":
                return el.text or ""
        return ""

    def short(self) -> str:
        if self.status < 300:
            return f"{self.status}"
        msg = self.message
        return f"{self.status} {self.code}" + (f' ("{msg}")' if msg else "")


def signed(server: Server, method: str, path: str, body: bytes = b"", headers: dict | None = None,
           access_key: str | None = None, secret_key: str | None = None) -> Answer:
    creds = botocore.credentials.Credentials(access_key or server.access_key, secret_key or server.secret_key)
    req = botocore.awsrequest.AWSRequest(method=method, url=server.url + path, data=body, headers=dict(headers or {}))
    botocore.auth.S3SigV4Auth(creds, "s3", server.region).add_auth(req)
    resp = requests.request(method, server.url + path, data=body, headers=dict(req.headers.items()), timeout=30)
    return Answer(resp.status_code, dict(resp.headers), resp.content)


def unsigned(server: Server, method: str, path: str, headers: dict) -> Answer:
    resp = requests.request(method, server.url + path, headers=headers, timeout=30)
    return Answer(resp.status_code, dict(resp.headers), resp.content)


def md5_b64(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).digest()).decode()


def crc32_b64(body: bytes) -> str:
    return base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()


def cors_xml(rules: list[dict], xmlns: bool = True) -> bytes:
    """rules: dicts with keys ID, AllowedOrigin, AllowedMethod, AllowedHeader, ExposeHeader (lists)
    and MaxAgeSeconds, emitted in that order."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>']
    out.append('<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' if xmlns else "<CORSConfiguration>")
    for r in rules:
        out.append("<CORSRule>")
        if "ID" in r:
            out.append(f"<ID>{r['ID']}</ID>")
        for key in ("AllowedOrigin", "AllowedMethod", "AllowedHeader", "ExposeHeader"):
            for v in r.get(key, []):
                out.append(f"<{key}>{v}</{key}>")
        if "MaxAgeSeconds" in r:
            out.append(f"<MaxAgeSeconds>{r['MaxAgeSeconds']}</MaxAgeSeconds>")
        out.append("</CORSRule>")
    out.append("</CORSConfiguration>")
    return "".join(out).encode()


def put_cors(server: Server, bucket: str, body: bytes, integrity: str = "md5", **kw) -> Answer:
    headers = {"Content-Type": "application/xml"}
    if integrity == "md5":
        headers["Content-MD5"] = md5_b64(body)
    elif integrity == "crc32":
        headers["x-amz-checksum-crc32"] = crc32_b64(body)
    elif integrity == "crc32+algo":
        headers["x-amz-checksum-crc32"] = crc32_b64(body)
        headers["x-amz-sdk-checksum-algorithm"] = "CRC32"
    elif integrity == "bad-md5":
        headers["Content-MD5"] = md5_b64(body + b"x")
    elif integrity == "bad-crc32":
        headers["x-amz-checksum-crc32"] = crc32_b64(body + b"x")
    elif integrity != "none":
        raise ValueError(integrity)
    headers.update(kw.pop("extra_headers", {}))
    return signed(server, "PUT", f"/{bucket}?cors", body, headers, **kw)


def parse_rules(body: bytes) -> list[dict]:
    root = ElementTree.fromstring(body)
    rules = []
    for rule in root:
        if rule.tag.split("}")[-1] != "CORSRule":
            continue
        r: dict = {}
        for el in rule:
            key = el.tag.split("}")[-1]
            if key in ("ID", "MaxAgeSeconds"):
                r[key] = el.text
            else:
                r.setdefault(key, []).append(el.text)
        rules.append(r)
    return rules


# ---------------------------------------------------------------------------------------------
# part 1: the round trip that must work

TWO_RULES = [
    {"ID": "uploads", "AllowedOrigins": ["https://shop.example.com"], "AllowedMethods": ["GET", "PUT"],
     "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 3000},
    {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]},
]


def boto_client(server: Server, sent: list | None = None):
    client = boto3.client(
        "s3", endpoint_url=server.url, region_name=server.region,
        aws_access_key_id=server.access_key, aws_secret_access_key=server.secret_key,
        config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    if sent is not None:
        def record(request, **_):
            sent.append(dict(request.headers.items()))
        client.meta.events.register("before-send.s3.PutBucketCors", record)
    return client


def round_trip(server: Server, bucket: str) -> list[str]:
    """Returns a list of failures (empty = passed)."""
    failures = []
    sent: list = []
    s3 = boto_client(server, sent)
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": TWO_RULES})
    got = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    if got != TWO_RULES:
        failures.append(f"GetBucketCors returned {got!r}, expected {TWO_RULES!r}")
    s3.delete_bucket_cors(Bucket=bucket)
    try:
        s3.get_bucket_cors(Bucket=bucket)
        failures.append("GetBucketCors after DeleteBucketCors succeeded")
    except ClientError as e:
        code = e.response["Error"]["Code"]
        status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        if (code, status) != ("NoSuchCORSConfiguration", 404):
            failures.append(f"GetBucketCors after delete: {status} {code}, expected 404 NoSuchCORSConfiguration")
    s3.delete_bucket(Bucket=bucket)
    integrity = sorted(h for h in (sent[0] if sent else {}) if h.lower() in
                       ("content-md5", "x-amz-sdk-checksum-algorithm") or h.lower().startswith("x-amz-checksum-"))
    print(f"  [{server.name}] boto3 {boto3.__version__} PutBucketCors sent integrity headers: {', '.join(integrity) or 'none'}")
    return failures


# ---------------------------------------------------------------------------------------------
# part 2: observed behaviour

def observe(server: Server, run: str) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []

    def row(what: str, value: str):
        rows.append((what, value))
        print(f"  [{server.name}] {what}: {value}")

    b = f"{run}-obs"
    missing = f"{run}-missing"
    ok = cors_xml([{"AllowedOrigin": ["https://a.example"], "AllowedMethod": ["GET"]}])

    created = signed(server, "PUT", f"/{b}")
    if created.status != 200:
        row("create bucket", created.short())
        return rows

    row("GetBucketCors, bucket without CORS", signed(server, "GET", f"/{b}?cors").short())
    row("DeleteBucketCors, bucket without CORS", signed(server, "DELETE", f"/{b}?cors").short())
    row("GetBucketCors, nonexistent bucket", signed(server, "GET", f"/{missing}?cors").short())
    row("PutBucketCors, nonexistent bucket", put_cors(server, missing, ok).short())
    row("DeleteBucketCors, nonexistent bucket", signed(server, "DELETE", f"/{missing}?cors").short())
    row("GetBucketCors, wrong secret key",
        signed(server, "GET", f"/{b}?cors", secret_key=server.secret_key + "-wrong").short())
    row("PutBucketCors, wrong secret key", put_cors(server, b, ok, secret_key=server.secret_key + "-wrong").short())
    row("GetBucketCors, unknown access key",
        signed(server, "GET", f"/{b}?cors", access_key="AKIAUNKNOWNKEY000000").short())
    if server.user_access_key:
        other = {"access_key": server.user_access_key, "secret_key": server.user_secret_key}
        row("GetBucketCors, by an account without rights on the bucket",
            signed(server, "GET", f"/{b}?cors", **other).short())
        row("PutBucketCors, by an account without rights on the bucket", put_cors(server, b, ok, **other).short())
        row("DeleteBucketCors, by an account without rights on the bucket",
            signed(server, "DELETE", f"/{b}?cors", **other).short())
    row("GetBucketCors, x-amz-expected-bucket-owner: 999999999999 (not the owner)",
        signed(server, "GET", f"/{b}?cors", headers={"x-amz-expected-bucket-owner": "999999999999"}).short())

    # Integrity headers on PutBucketCors.
    for integrity in ("md5", "crc32", "crc32+algo", "none", "bad-md5", "bad-crc32"):
        label = {
            "md5": "Content-MD5 only",
            "crc32": "x-amz-checksum-crc32 only",
            "crc32+algo": "x-amz-checksum-crc32 + x-amz-sdk-checksum-algorithm: CRC32",
            "none": "no Content-MD5, no checksum",
            "bad-md5": "wrong Content-MD5",
            "bad-crc32": "wrong x-amz-checksum-crc32",
        }[integrity]
        row(f"PutBucketCors, {label}", put_cors(server, b, ok, integrity).short())

    # Invalid configurations (all sent with a correct Content-MD5).
    invalid = {
        'AllowedMethod "FOO"': cors_xml([{"AllowedOrigin": ["*"], "AllowedMethod": ["FOO"]}]),
        'AllowedMethod "get" (lower case)': cors_xml([{"AllowedOrigin": ["*"], "AllowedMethod": ["get"]}]),
        "no CORSRule (empty CORSConfiguration)": cors_xml([]),
        "rule without AllowedOrigin": cors_xml([{"AllowedMethod": ["GET"]}]),
        "rule without AllowedMethod": cors_xml([{"AllowedOrigin": ["*"]}]),
        'AllowedOrigin "https://*.*.example" (two *)':
            cors_xml([{"AllowedOrigin": ["https://*.*.example"], "AllowedMethod": ["GET"]}]),
        'AllowedHeader "x-*-*" (two *)':
            cors_xml([{"AllowedOrigin": ["*"], "AllowedMethod": ["GET"], "AllowedHeader": ["x-*-*"]}]),
        'AllowedHeader "bad header" (space)':
            cors_xml([{"AllowedOrigin": ["*"], "AllowedMethod": ["GET"], "AllowedHeader": ["bad header"]}]),
        'ExposeHeader "*"':
            cors_xml([{"AllowedOrigin": ["*"], "AllowedMethod": ["GET"], "ExposeHeader": ["*"]}]),
        'ExposeHeader "x-amz-*"':
            cors_xml([{"AllowedOrigin": ["*"], "AllowedMethod": ["GET"], "ExposeHeader": ["x-amz-*"]}]),
        "MaxAgeSeconds -1": cors_xml([{"AllowedOrigin": ["*"], "AllowedMethod": ["GET"], "MaxAgeSeconds": -1}]),
        "MaxAgeSeconds 2147483648":
            cors_xml([{"AllowedOrigin": ["*"], "AllowedMethod": ["GET"], "MaxAgeSeconds": 2147483648}]),
        "ID of 256 characters": cors_xml([{"ID": "i" * 256, "AllowedOrigin": ["*"], "AllowedMethod": ["GET"]}]),
        "100 rules (valid, 5.6 KB)": cors_xml([{"AllowedOrigin": [f"https://{i}.example"], "AllowedMethod": ["GET"]}
                                               for i in range(100)]),
        "101 rules": cors_xml([{"AllowedOrigin": [f"https://{i}.example"], "AllowedMethod": ["GET"]}
                               for i in range(101)]),
        "body > 64 KiB (100 rules, 70 KB)": cors_xml([{"AllowedOrigin": [f"https://{i}-{'o' * 660}.example"],
                                                       "AllowedMethod": ["GET"]} for i in range(100)]),
        "not XML": b"this is not xml",
        "CORSConfiguration without xmlns (valid)":
            cors_xml([{"AllowedOrigin": ["*"], "AllowedMethod": ["GET"]}], xmlns=False),
    }
    for label, body in invalid.items():
        row(f"PutBucketCors, {label}", put_cors(server, b, body).short())

    # Normalisation on the round trip: what GetBucketCors returns for what was put.
    messy = [{
        "ID": "Mixed",
        "AllowedOrigin": ["https://b.example", "https://A.example", "https://b.example"],
        "AllowedMethod": ["PUT", "GET", "GET"],
        "AllowedHeader": ["X-Custom-Header", "content-TYPE", "x-custom-header"],
        "ExposeHeader": ["ETag", "x-amz-Meta-Foo"],
        "MaxAgeSeconds": "0",
    }, {
        "AllowedOrigin": ["*"], "AllowedMethod": ["HEAD"],
    }]
    put = put_cors(server, b, cors_xml(messy))
    got = signed(server, "GET", f"/{b}?cors")
    if put.status == 200 and got.status == 200:
        live = parse_rules(got.body)
        row("normalisation: put", repr(messy))
        row("normalisation: got", repr(live))
        row("normalisation: identical", "yes" if live == messy else "NO")
        root = ElementTree.fromstring(got.body)
        row("GetBucketCors XML root", root.tag)
    else:
        row("normalisation", f"put {put.short()}, get {got.short()}")

    # Preflight and actual request against an object URL (unsigned, as a browser sends them).
    pre = cors_xml([
        {"ID": "first", "AllowedOrigin": ["https://app.example"], "AllowedMethod": ["GET", "PUT"],
         "AllowedHeader": ["x-custom-*", "Content-Type"], "ExposeHeader": ["ETag"], "MaxAgeSeconds": 600},
        {"ID": "any", "AllowedOrigin": ["*"], "AllowedMethod": ["GET"]},
    ])
    put_cors(server, b, pre)
    signed(server, "PUT", f"/{b}/hello.txt", b"hello", {"Content-Type": "text/plain"})

    def cors_headers(a: Answer) -> str:
        keep = {k: v for k, v in a.headers.items() if k.lower().startswith("access-control-") or k.lower() == "vary"}
        return f"{a.status} {keep}" if keep else f"{a.status} (no CORS headers)" + (f" {a.code}" if a.code != "-" else "")

    cases = [
        ("OPTIONS object, origin https://app.example, PUT, headers X-Custom-One,content-type",
         {"Origin": "https://app.example", "Access-Control-Request-Method": "PUT",
          "Access-Control-Request-Headers": "X-Custom-One,content-type"}),
        ("OPTIONS object, origin https://other.example, GET (matches rule 2, '*')",
         {"Origin": "https://other.example", "Access-Control-Request-Method": "GET"}),
        ("OPTIONS object, origin https://other.example, DELETE (no rule matches)",
         {"Origin": "https://other.example", "Access-Control-Request-Method": "DELETE"}),
        ("OPTIONS object, origin https://app.example, PUT, header X-Other (not allowed)",
         {"Origin": "https://app.example", "Access-Control-Request-Method": "PUT",
          "Access-Control-Request-Headers": "X-Other"}),
        ("OPTIONS object, no Origin header",
         {"Access-Control-Request-Method": "GET"}),
    ]
    for label, headers in cases:
        row(label, cors_headers(unsigned(server, "OPTIONS", f"/{b}/hello.txt", headers)))
    row("OPTIONS nonexistent object (same bucket), origin https://app.example, GET",
        cors_headers(unsigned(server, "OPTIONS", f"/{b}/nope.txt",
                              {"Origin": "https://app.example", "Access-Control-Request-Method": "GET"})))
    actual = signed(server, "GET", f"/{b}/hello.txt", headers={"Origin": "https://app.example"})
    row("signed GET object with Origin https://app.example", cors_headers(actual))

    signed(server, "DELETE", f"/{b}?cors")
    row("OPTIONS object after DeleteBucketCors, origin https://app.example, GET",
        cors_headers(unsigned(server, "OPTIONS", f"/{b}/hello.txt",
                              {"Origin": "https://app.example", "Access-Control-Request-Method": "GET"})))
    signed(server, "DELETE", f"/{b}/hello.txt")
    signed(server, "DELETE", f"/{b}")
    return rows


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", action="append", default=[], choices=["moto", "versitygw"])
    ap.add_argument("--markdown", action="store_true", help="print the observations as one markdown table")
    ap.add_argument("--no-observe", action="store_true", help="only the round-trip check")
    args = ap.parse_args()

    servers = servers_from_env(args.server)
    run = "probe-" + uuid.uuid4().hex[:10]
    failed = False
    table: dict[str, dict[str, str]] = {}
    for server in servers:
        print(f"== {server.name} {server.url}")
        failures = round_trip(server, f"{run}-rt")
        for f in failures:
            print(f"  [{server.name}] FAIL: {f}")
        failed |= bool(failures)
        print(f"  [{server.name}] round trip: {'FAILED' if failures else 'ok'}")
        if not args.no_observe:
            for what, value in observe(server, run):
                table.setdefault(what, {})[server.name] = value
    if args.markdown and table:
        names = [s.name for s in servers]
        print()
        print("| case | " + " | ".join(names) + " |")
        print("| --- | " + " | ".join("---" for _ in names) + " |")
        for what, per in table.items():
            cells = [per.get(n, "").replace("|", "\\|") for n in names]
            print(f"| {what} | " + " | ".join(cells) + " |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
