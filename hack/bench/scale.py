#!/usr/bin/env python3
"""Scale benchmark of the bucketcors controller against a real control plane and moto.

One run at size N:
  1. starts a control plane (hack/controlplane/start.sh, with kube-apiserver audit logging of the
     controller's own identity), moto (hack/s3/start.sh) and s3proxy.py in front of moto
     (fixed latency per request, requests counted by operation);
  2. creates N buckets directly on moto and N BucketCorsPolicies (server-side apply, in
     parallel), timing the creation;
  3. starts the release controller binary against the proxy and measures the time until every
     policy is Ready=True for its generation, against the lower bound
     N x (GET + PUT latency) / concurrency;
  4. counts S3 requests (proxy), API server requests (audit log) and the controller's metrics
     during the initial sync and during a steady-state window with nothing drifted;
  5. changes a few buckets out of band (PutBucketCors straight to moto) and times the repair;
  6. records the controller's peak RSS (VmHWM) and CPU seconds at each step.
Each run writes DIR/result.json; summarise.py turns results into tables.

Usage: see hack/bench/run.sh (the one documented entry point).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import aiohttp
import boto3
from botocore.config import Config

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
NAMESPACE = "bench"
CONTROLLER_USER = "bucketcors-bench-controller"
GROUP_PATH = "/apis/bucketcors.dev/v1alpha1"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- process accounting ----------------------------------------------------------------------


def proc_usage(pid: int) -> dict[str, float] | None:
    """CPU seconds (user+system) and memory (kB) of one process, from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            # The command name may contain spaces; the fields after the closing parenthesis don't.
            fields = f.read().rsplit(")", 1)[1].split()
        status = {}
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmHWM", "VmRSS"):
                    status[key] = int(value.split()[0])
    except OSError:
        return None
    # fields[0] is field 3 (state): utime is field 14, stime field 15.
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return {"cpu_s": cpu, "hwm_kb": status.get("VmHWM", 0), "rss_kb": status.get("VmRSS", 0)}


def group_cpu(pid: int) -> float:
    """CPU seconds of a process and its live children (moto's server runs in a child)."""
    total = 0.0
    for child in [pid, *children(pid)]:
        usage = proc_usage(child)
        if usage:
            total += usage["cpu_s"]
    return total


def children(pid: int) -> list[int]:
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                for c in f.read().split():
                    out.append(int(c))
                    out.extend(children(int(c)))
    except OSError:
        pass
    return out


def system_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


class CpuWatch:
    """CPU seconds of named processes and the machine's busy share between two points."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.start = self.sample()

    def sample(self) -> dict[str, float]:
        out = {name: group_cpu(pid) for name, pid in self.pids.items()}
        busy, total = system_cpu()
        out["_busy"], out["_total"] = busy, total
        out["_wall"] = time.monotonic()
        return out

    def delta(self) -> dict[str, float]:
        end = self.sample()
        d = {name: round(end[name] - self.start[name], 2) for name in self.pids}
        d["wall_s"] = round(end["_wall"] - self.start["_wall"], 2)
        total = end["_total"] - self.start["_total"]
        d["machine_busy_pct"] = round(100.0 * (end["_busy"] - self.start["_busy"]) / total, 1) if total else 0.0
        return d


# ---- metrics and proxy -----------------------------------------------------------------------


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def scrape(url: str) -> dict[str, float]:
    """Prometheus text -> {'name{labels}': value} for the bucketcors_ series."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            text = r.read().decode()
    except OSError as err:
        log(f"metrics scrape failed: {err}")
        return {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith("bucketcors_") or "_bucket{" in line:
            continue
        key, _, value = line.rpartition(" ")
        try:
            out[key] = float(value)
        except ValueError:
            pass
    return out


def diff(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    keys = set(after) | set(before)
    return {k: after.get(k, 0) - before.get(k, 0) for k in sorted(keys) if after.get(k, 0) != before.get(k, 0)}


def metric_sum(metrics: dict[str, float], name: str, **labels: str) -> float:
    """Sum of a counter over series whose labels include the given ones."""
    total = 0.0
    for key, value in metrics.items():
        base, _, rest = key.partition("{")
        if base not in (name, name + "_total"):
            continue
        if all(f'{k}="{v}"' in rest for k, v in labels.items()):
            total += value
    return total


# ---- the Kubernetes API ----------------------------------------------------------------------


class Kube:
    """A minimal async client of the API server with the admin client certificate."""

    def __init__(self, cp_dir: Path, server: str) -> None:
        self.server = server
        ctx = ssl.create_default_context(cafile=str(cp_dir / "pki" / "ca.crt"))
        ctx.load_cert_chain(str(cp_dir / "pki" / "admin.crt"), str(cp_dir / "pki" / "admin.key"))
        self.ssl = ctx
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> "Kube":
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=self.ssl, limit=64), timeout=aiohttp.ClientTimeout(total=None)
        )
        return self

    async def __aexit__(self, *exc) -> None:
        assert self.session is not None
        await self.session.close()

    async def request(self, method: str, path: str, body=None, ctype="application/json", ok=(200, 201)) -> dict:
        assert self.session is not None
        data = json.dumps(body) if body is not None else None
        for attempt in range(5):
            async with self.session.request(
                method, self.server + path, data=data, headers={"Content-Type": ctype},
                timeout=aiohttp.ClientTimeout(total=60),
            ) as r:
                text = await r.text()
                if r.status in ok:
                    return json.loads(text) if text else {}
                if r.status == 429 or r.status >= 500:
                    await asyncio.sleep(0.2 * (attempt + 1))
                    continue
                raise RuntimeError(f"{method} {path}: HTTP {r.status}: {text[:300]}")
        raise RuntimeError(f"{method} {path}: gave up after retries")

    async def apply(self, path: str, obj: dict) -> dict:
        return await self.request(
            "PATCH", path + "?fieldManager=bucketcors-bench&force=true", obj, "application/apply-patch+yaml"
        )

    async def list_all(self, path: str) -> tuple[list[dict], str]:
        items, cont = [], ""
        while True:
            q = f"?limit=500" + (f"&continue={cont}" if cont else "")
            page = await self.request("GET", path + q)
            items.extend(page.get("items", []))
            cont = page.get("metadata", {}).get("continue", "")
            if not cont:
                return items, page["metadata"]["resourceVersion"]


def policy(index: int, interval: str) -> dict:
    return {
        "apiVersion": "bucketcors.dev/v1alpha1",
        "kind": "BucketCorsPolicy",
        "metadata": {"name": f"p-{index:05d}", "namespace": NAMESPACE, "labels": {"bench": "scale"}},
        "spec": {
            "bucket": bucket_name(index),
            "interval": interval,
            "deletionPolicy": "Retain",
            "rules": desired_rules(index),
        },
    }


def bucket_name(index: int) -> str:
    return f"bench-{index:05d}"


def desired_rules(index: int) -> list[dict]:
    return [
        {
            "id": "web",
            "allowedOrigins": [f"https://app-{index}.example.com"],
            "allowedMethods": ["GET", "HEAD"],
            "allowedHeaders": ["*"],
            "exposeHeaders": ["ETag"],
            "maxAgeSeconds": 3000,
        }
    ]


def is_ready(obj: dict) -> bool:
    status = obj.get("status") or {}
    gen = obj.get("metadata", {}).get("generation")
    if status.get("observedGeneration") != gen:
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def ready_reason(obj: dict) -> str:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return f"{c.get('status')}/{c.get('reason')}"
    return "none"


async def create_policies(kube: Kube, n: int, interval: str, parallel: int) -> float:
    """Server-side applies N policies with `parallel` requests in flight; returns seconds."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    path = f"{GROUP_PATH}/namespaces/{NAMESPACE}/bucketcorspolicies/"

    async def worker() -> None:
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await kube.apply(path + f"p-{i:05d}", policy(i, interval))

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(parallel)))
    return time.monotonic() - started


class ReadyTracker:
    """Follows the policies with list+watch and records when all of them are Ready."""

    def __init__(self, kube: Kube, n: int) -> None:
        self.kube = kube
        self.n = n
        self.ready: set[str] = set()
        self.reasons: dict[str, str] = {}
        self.all_ready = asyncio.Event()
        self.t_all_ready: float | None = None
        self.path = f"{GROUP_PATH}/namespaces/{NAMESPACE}/bucketcorspolicies"

    def see(self, obj: dict) -> None:
        name = obj["metadata"]["name"]
        self.reasons[name] = ready_reason(obj)
        if is_ready(obj):
            self.ready.add(name)
        else:
            self.ready.discard(name)
        if len(self.ready) >= self.n and not self.all_ready.is_set():
            self.t_all_ready = time.monotonic()
            self.all_ready.set()

    async def run(self) -> None:
        assert self.kube.session is not None
        while True:
            items, rv = await self.kube.list_all(self.path)
            for obj in items:
                self.see(obj)
            url = f"{self.kube.server}{self.path}?watch=1&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=300"
            try:
                async with self.kube.session.get(url, timeout=aiohttp.ClientTimeout(total=None, sock_read=330)) as r:
                    async for line in r.content:
                        if not line.strip():
                            continue
                        event = json.loads(line)
                        if event.get("type") in ("ADDED", "MODIFIED"):
                            self.see(event["object"])
                        elif event.get("type") == "ERROR":
                            break
            except (aiohttp.ClientError, asyncio.TimeoutError) as err:
                log(f"watch ended ({err}); listing again")

    def reason_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.reasons.values():
            out[r] = out.get(r, 0) + 1
        return out


# ---- audit log -------------------------------------------------------------------------------

AUDIT_POLICY = f"""apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["ResponseStarted"]
rules:
  - level: Metadata
    users: ["{CONTROLLER_USER}"]
  - level: None
"""


def audit_counts(path: Path, start: float, end: float) -> dict[str, int]:
    """Requests of the controller's identity received in [start, end) (epoch seconds), by
    'verb resource[/subresource]', plus 'total' and response codes."""
    out: dict[str, int] = {"total": 0}
    if not path.exists():
        return out
    with open(path) as f:
        for line in f:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("user", {}).get("username") != CONTROLLER_USER:
                continue
            ts = datetime.fromisoformat(ev["requestReceivedTimestamp"].replace("Z", "+00:00")).timestamp()
            if not start <= ts < end:
                continue
            ref = ev.get("objectRef") or {}
            what = ev.get("verb", "?") + " " + ref.get("resource", ev.get("requestURI", "?").split("?")[0])
            if ref.get("subresource"):
                what += "/" + ref["subresource"]
            if ev.get("stage") == "RequestReceived":
                out[what] = out.get(what, 0) + 1
                out["total"] += 1
            elif ev.get("stage") == "ResponseComplete":
                code = (ev.get("responseStatus") or {}).get("code", 0)
                if code >= 400:
                    key = f"HTTP {code} {what}"
                    out[key] = out.get(key, 0) + 1
    return out


# ---- one run ---------------------------------------------------------------------------------


class Run:
    def __init__(self, args: argparse.Namespace, n: int, run_dir: Path) -> None:
        self.args = args
        self.n = n
        self.dir = run_dir
        self.cp_dir = run_dir / "cp"
        self.s3_dir = run_dir / "s3"
        self.proxy: subprocess.Popen | None = None
        self.controller: subprocess.Popen | None = None
        self.result: dict = {"n": n, "latency_ms": args.latency_ms, "concurrency": args.concurrency,
                             "interval_s": args.interval_s, "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
                             "loadavg_at_start": open("/proc/loadavg").read().split()[:3]}

    # -- setup --

    def start_controlplane(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        audit_policy = self.dir / "audit-policy.yaml"
        audit_policy.write_text(AUDIT_POLICY)
        self.audit_log = self.dir / "audit.log"
        env = dict(os.environ)
        env["BUCKETCORS_APISERVER_EXTRA_ARGS"] = (
            f"--audit-policy-file={audit_policy} --audit-log-path={self.audit_log} "
            "--audit-log-maxsize=0 --audit-log-format=json"
        )
        env["BUCKETCORS_CRDS_DIR"] = str(REPO / "crds")
        log(f"N={self.n}: starting the control plane in {self.cp_dir}")
        subprocess.run([str(REPO / "hack/controlplane/start.sh"), str(self.cp_dir)], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=open(self.dir / "controlplane-start.log", "w"))
        ports = dict(line.split("=", 1) for line in (self.cp_dir / "ports").read_text().split())
        self.apiserver = f"https://127.0.0.1:{ports['APISERVER_PORT']}"
        self.controller_kubeconfig = self.make_controller_identity()

    def make_controller_identity(self) -> Path:
        """A client certificate of its own for the controller, so its requests can be told apart
        in the audit log; bound to cluster-admin by RBAC (not system:masters, so API Priority and
        Fairness treats it like a normal workload)."""
        pki = self.cp_dir / "pki"
        key, csr, crt = pki / "bench-controller.key", pki / "bench-controller.csr", pki / "bench-controller.crt"
        ext = pki / "bench-controller.ext"
        ext.write_text("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                       "extendedKeyUsage=clientAuth\n")
        run = lambda *a: subprocess.run(a, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        run("openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(key))
        run("openssl", "req", "-new", "-key", str(key), "-subj", f"/O=bucketcors/CN={CONTROLLER_USER}", "-out", str(csr))
        run("openssl", "x509", "-req", "-in", str(csr), "-CA", str(pki / "ca.crt"), "-CAkey", str(pki / "ca.key"),
            "-set_serial", "0x" + os.urandom(16).hex(), "-days", "2", "-sha256", "-extfile", str(ext), "-out", str(crt))
        b64 = lambda p: base64.b64encode(p.read_bytes()).decode()
        kubeconfig = self.cp_dir / "bench-controller.kubeconfig"
        kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "bench", "cluster": {"server": self.apiserver,
                                                       "certificate-authority-data": b64(pki / "ca.crt")}}],
            "users": [{"name": CONTROLLER_USER, "user": {"client-certificate-data": b64(crt),
                                                         "client-key-data": b64(key)}}],
            "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": CONTROLLER_USER}}],
            "current-context": "bench",
        }))
        kubeconfig.chmod(0o600)
        return kubeconfig

    def start_s3(self) -> None:
        log(f"N={self.n}: starting moto and the latency proxy (+{self.args.latency_ms} ms)")
        subprocess.run([str(REPO / "hack/s3/start.sh"), str(self.s3_dir)], check=True,
                       stdout=subprocess.DEVNULL, stderr=open(self.dir / "s3-start.log", "w"))
        env = dict(line.split("=", 1) for line in (self.s3_dir / "env").read_text().split())
        self.moto_url = env["BUCKETCORS_MOTO_URL"]
        self.moto_pid = int((self.s3_dir / "moto.pid").read_text())
        port_file = self.dir / "proxy.port"
        self.proxy = subprocess.Popen(
            [sys.executable, str(HERE / "s3proxy.py"), "--upstream", self.moto_url,
             "--latency-ms", str(self.args.latency_ms), "--port-file", str(port_file)],
            stdout=open(self.dir / "proxy.log", "w"), stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while not port_file.exists():
            if self.proxy.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"s3proxy did not start; see {self.dir / 'proxy.log'}")
            time.sleep(0.1)
        self.proxy_url = f"http://127.0.0.1:{port_file.read_text().strip()}"

    def s3(self, url: str):
        return boto3.client("s3", endpoint_url=url, aws_access_key_id="testing", aws_secret_access_key="testing",
                            region_name="us-east-1",
                            config=Config(s3={"addressing_style": "path"}, max_pool_connections=32,
                                          retries={"max_attempts": 5, "mode": "standard"}))

    def create_buckets(self) -> float:
        client = self.s3(self.moto_url)
        started = time.monotonic()
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda i: client.create_bucket(Bucket=bucket_name(i)), range(self.n)))
        return time.monotonic() - started

    # -- controller --

    def start_controller(self) -> None:
        self.metrics_port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1",
                   KUBECONFIG=str(self.controller_kubeconfig))
        env.setdefault("RUST_LOG", self.args.rust_log)
        cmd = [self.args.binary, "controller", "--kubeconfig", str(self.controller_kubeconfig),
               "--namespace", NAMESPACE, "--concurrency", str(self.args.concurrency),
               "--metrics-addr", f"127.0.0.1:{self.metrics_port}",
               "--default-endpoint-url", self.proxy_url, "--default-region", "us-east-1", "--default-path-style"]
        self.result["controller_cmd"] = " ".join(cmd)
        self.controller = subprocess.Popen(cmd, env=env, stdout=open(self.dir / "controller.log", "w"),
                                           stderr=subprocess.STDOUT, start_new_session=True)
        self.metrics_url = f"http://127.0.0.1:{self.metrics_port}/metrics"

    def controller_usage(self) -> dict[str, float]:
        assert self.controller is not None
        usage = proc_usage(self.controller.pid)
        if usage is None:
            raise RuntimeError(f"the controller exited (code {self.controller.poll()}); see {self.dir / 'controller.log'}")
        return usage

    # -- phases --

    async def measure(self) -> None:
        args, n, res = self.args, self.n, self.result
        res["create_buckets_s"] = round(self.create_buckets(), 2)
        log(f"N={n}: {n} buckets created on moto in {res['create_buckets_s']} s")
        async with Kube(self.cp_dir, self.apiserver) as kube:
            await kube.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                               "metadata": {"name": NAMESPACE}}, ok=(201, 409))
            await kube.request("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": "bucketcors-bench-controller"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": CONTROLLER_USER}],
            }, ok=(201, 409))
            res["create_policies_s"] = round(await create_policies(kube, n, f"{args.interval_s}s", args.apply_parallel), 2)
            items, _ = await kube.list_all(f"{GROUP_PATH}/namespaces/{NAMESPACE}/bucketcorspolicies")
            if len(items) != n:
                raise RuntimeError(f"expected {n} policies after creation, found {len(items)}")
            log(f"N={n}: {n} policies created (server-side apply, {args.apply_parallel} in flight) "
                f"in {res['create_policies_s']} s")

            if args.skeleton_check:
                await self.skeleton_check()
                return

            pids = {"controller": 0, "kube-apiserver": int((self.cp_dir / "pids/kube-apiserver.pid").read_text()),
                    "etcd": int((self.cp_dir / "pids/etcd.pid").read_text()), "moto": self.moto_pid,
                    "s3proxy": self.proxy.pid if self.proxy else 0}
            proxy0 = get_json(self.proxy_url + "/__bench/stats")
            tracker = ReadyTracker(kube, n)
            watch = asyncio.create_task(tracker.run())
            await asyncio.sleep(1.0)  # the tracker's first list is not part of the measurement

            # -- initial sync --
            t0_wall, t0 = time.time(), time.monotonic()
            self.start_controller()
            assert self.controller is not None
            pids["controller"] = self.controller.pid
            cpu = CpuWatch(pids)
            timeout = args.ready_timeout or max(120.0, n * 0.2)
            try:
                await asyncio.wait_for(tracker.all_ready.wait(), timeout)
            except asyncio.TimeoutError:
                res["error"] = f"not all Ready within {timeout:.0f}s: {len(tracker.ready)}/{n}"
                res["reasons_at_timeout"] = tracker.reason_counts()
                log(f"N={n}: {res['error']} {res['reasons_at_timeout']}")
                watch.cancel()
                return
            assert tracker.t_all_ready is not None
            t_ready_wall = t0_wall + (tracker.t_all_ready - t0)
            converge = tracker.t_all_ready - t0
            res["converge_s"] = round(converge, 3)
            res["initial_cpu"] = cpu.delta()
            res["reasons_at_ready"] = tracker.reason_counts()
            proxy1 = get_json(self.proxy_url + "/__bench/stats")
            metrics1 = scrape(self.metrics_url)
            res["initial_s3"] = diff(proxy1["counts"], proxy0["counts"])
            res["initial_s3_status"] = diff(proxy1["status"], proxy0["status"])
            res["initial_s3_latency_ms"] = {"total": proxy1["total_ms"], "upstream": proxy1["upstream_ms"],
                                            "max_in_flight": proxy1["max_in_flight"]}
            res["initial_metrics"] = metrics1
            res["initial_usage"] = self.controller_usage()
            nominal = n * 2 * args.latency_ms / 1000.0 / args.concurrency
            # The tightest bound this run allows: all S3 time the controller waited for (every
            # request's latency as the proxy's clients saw it), spread perfectly over
            # `concurrency` workers. Only the controller talks to the proxy until now.
            s3_busy_ms = sum(v.get("sum", 0.0) for v in proxy1["total_ms"].values())
            measured = s3_busy_ms / 1000.0 / args.concurrency
            first = min(proxy1["first_request"].values(), default=t0_wall)
            res["startup_to_first_s3_request_s"] = round(first - t0_wall, 3)
            res["first_s3_request_to_all_ready_s"] = round(t_ready_wall - first, 3)
            res["bound_nominal_s"] = round(nominal, 3)
            res["bound_measured_s"] = round(measured, 3)
            res["ratio_nominal"] = round(converge / nominal, 2)
            res["ratio_measured"] = round(converge / measured, 2)
            log(f"N={n}: all Ready in {converge:.2f} s; bound {nominal:.2f} s nominal "
                f"(x{res['ratio_nominal']}), {measured:.2f} s with measured latency (x{res['ratio_measured']})")

            # -- steady state: nothing drifted, nothing changes --
            await asyncio.sleep(args.settle_s)
            cpu = CpuWatch(pids)
            w0_wall = time.time()
            proxy_w0, metrics_w0 = get_json(self.proxy_url + "/__bench/stats"), scrape(self.metrics_url)
            usage_w0 = self.controller_usage()
            await asyncio.sleep(args.steady_window_s)
            w1_wall = time.time()
            proxy_w1, metrics_w1 = get_json(self.proxy_url + "/__bench/stats"), scrape(self.metrics_url)
            usage_w1 = self.controller_usage()
            window = w1_wall - w0_wall
            res["steady_window_s"] = round(window, 1)
            res["steady_s3"] = diff(proxy_w1["counts"], proxy_w0["counts"])
            res["steady_metrics"] = diff(metrics_w1, metrics_w0)
            res["steady_cpu"] = cpu.delta()
            res["steady_usage"] = usage_w1
            res["steady_controller_cpu_s"] = round(usage_w1["cpu_s"] - usage_w0["cpu_s"], 2)
            gets = res["steady_s3"].get("get", 0)
            res["steady_gets_per_policy_per_interval"] = round(gets * args.interval_s / (n * window), 3)
            res["steady_not_ready"] = n - len(tracker.ready)
            log(f"N={n}: steady {window:.0f} s: S3 {res['steady_s3']}, "
                f"{res['steady_gets_per_policy_per_interval']} GET/policy/interval, "
                f"status patches {metric_sum(res['steady_metrics'], 'bucketcors_status_patches_total'):.0f}")

            # -- repair of out-of-band changes --
            res["repair"] = await self.repair()
            usage_end = self.controller_usage()
            res["final_usage"] = usage_end
            metrics_end = scrape(self.metrics_url)
            watch.cancel()

        await asyncio.sleep(1.0)  # the audit log is written as requests complete
        res["audit_initial"] = audit_counts(self.audit_log, t0_wall, t_ready_wall)
        res["audit_steady"] = audit_counts(self.audit_log, w0_wall, w1_wall)
        rec_initial = metric_sum(metrics1, "bucketcors_reconciles_total")
        rec_steady = metric_sum(res["steady_metrics"], "bucketcors_reconciles_total")
        res["reconciles_initial"], res["reconciles_steady"] = rec_initial, rec_steady
        if rec_initial:
            res["api_requests_per_reconcile_initial"] = round(res["audit_initial"]["total"] / rec_initial, 2)
        if rec_steady:
            res["api_requests_per_reconcile_steady"] = round(res["audit_steady"]["total"] / rec_steady, 2)
        res["final_metrics"] = metrics_end

    async def repair(self) -> dict:
        """Puts a different configuration straight on moto for a few buckets and waits until the
        controller has put the declared one back."""
        args = self.args
        client = self.s3(self.moto_url)
        picks = random.Random(self.n).sample(range(self.n), min(args.repair_count, self.n))
        drift = {"CORSRules": [{"AllowedOrigins": ["https://drift.example.net"], "AllowedMethods": ["PUT"]}]}
        changed_at: dict[int, float] = {}
        for i in picks:
            client.put_bucket_cors(Bucket=bucket_name(i), CORSConfiguration=drift)
            changed_at[i] = time.monotonic()
        repaired: dict[int, float] = {}
        deadline = time.monotonic() + args.interval_s * 3 + 30
        loop = asyncio.get_running_loop()
        while len(repaired) < len(picks) and time.monotonic() < deadline:
            for i in picks:
                if i in repaired:
                    continue
                try:
                    rules = (await loop.run_in_executor(None, lambda: client.get_bucket_cors(Bucket=bucket_name(i))))["CORSRules"]
                except client.exceptions.ClientError:
                    continue
                want = desired_rules(i)[0]["allowedOrigins"]
                if len(rules) == 1 and rules[0].get("AllowedOrigins") == want:
                    repaired[i] = time.monotonic() - changed_at[i]
            await asyncio.sleep(0.25)
        times = sorted(repaired.values())
        out = {"changed": len(picks), "repaired": len(times), "bound_s": round(args.interval_s * 1.1, 1),
               "times_s": [round(t, 2) for t in times]}
        if times:
            out["median_s"] = round(statistics.median(times), 2)
            out["max_s"] = round(times[-1], 2)
        log(f"N={self.n}: repair of {len(picks)} out-of-band changes: {out}")
        return out

    async def skeleton_check(self) -> None:
        """Without a controller: the proxy forwards and counts what an S3 client sends."""
        client = self.s3(self.proxy_url)
        before = get_json(self.proxy_url + "/__bench/stats")["counts"]
        b = bucket_name(0)
        try:
            client.get_bucket_cors(Bucket=b)
        except client.exceptions.ClientError as err:
            assert err.response["Error"]["Code"] == "NoSuchCORSConfiguration", err
        client.put_bucket_cors(Bucket=b, CORSConfiguration={"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]})
        assert client.get_bucket_cors(Bucket=b)["CORSRules"][0]["AllowedOrigins"] == ["*"]
        client.delete_bucket_cors(Bucket=b)
        client.list_buckets()
        counts = diff(get_json(self.proxy_url + "/__bench/stats")["counts"], before)
        expected = {"get": 2, "put": 1, "delete": 1, "other": 1}
        if counts != expected:
            raise RuntimeError(f"proxy counted {counts}, expected {expected}")
        # The audit log sees requests made with the controller's identity, and only those.
        t0 = time.time()
        kubectl = Path(os.environ.get("BUCKETCORS_K8S_BIN", "")) / "kubectl"
        subprocess.run([str(kubectl), "--kubeconfig", str(self.controller_kubeconfig), "get",
                        "bucketcorspolicies", "-n", NAMESPACE, "-o", "name"], check=True, stdout=subprocess.DEVNULL)
        await asyncio.sleep(1.0)
        audit = audit_counts(self.audit_log, t0 - 1, time.time())
        if audit.get("list bucketcorspolicies", 0) < 1:
            raise RuntimeError(f"audit log did not record the controller identity's list: {audit}")
        self.result["skeleton_check"] = {"proxy_counts": counts, "policies": self.n, "audit": audit}
        log(f"N={self.n}: skeleton check passed: {self.n} policies exist, proxy counted {counts}, audit {audit}")

    # -- teardown --

    def stop(self) -> None:
        for name, proc in (("controller", self.controller), ("s3proxy", self.proxy)):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    log(f"{name} ignored SIGTERM; killing it")
                    proc.kill()
                    proc.wait()
        if self.controller is not None:
            self.result["controller_exit"] = self.controller.returncode
        subprocess.run([str(REPO / "hack/s3/stop.sh"), str(self.s3_dir)], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        subprocess.run([str(REPO / "hack/controlplane/stop.sh"), str(self.cp_dir)], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        if not self.args.keep:
            # Logs and results stay; the bulky state goes.
            subprocess.run(["rm", "-rf", str(self.cp_dir / "etcd"), str(self.s3_dir / "versitygw-data"),
                            str(self.s3_dir / "versitygw-meta")])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plan", default="100x3,1000x3",
                    help="sizes and repetitions, e.g. 100x3,1000x3,10000x1 (runs are interleaved)")
    ap.add_argument("--out", required=True, help="results directory (one sub-directory per run)")
    ap.add_argument("--binary", help="the bucketcors binary (release build)")
    ap.add_argument("--latency-ms", type=float, default=20.0, help="added to every S3 request")
    ap.add_argument("--concurrency", type=int, default=16, help="controller --concurrency")
    ap.add_argument("--interval-s", type=int, default=30, help="spec.interval of every policy")
    ap.add_argument("--steady-window-s", type=float, default=60.0)
    ap.add_argument("--settle-s", type=float, default=5.0, help="pause between all-Ready and the steady window")
    ap.add_argument("--repair-count", type=int, default=5)
    ap.add_argument("--apply-parallel", type=int, default=32)
    ap.add_argument("--ready-timeout", type=float, default=0.0, help="seconds (default max(120, N/5))")
    ap.add_argument("--rust-log", default="info", help="RUST_LOG of the controller unless set")
    ap.add_argument("--keep", action="store_true", help="keep etcd and S3 data of each run")
    ap.add_argument("--skeleton-check", action="store_true",
                    help="no controller: create buckets and policies, check the proxy counts, stop")
    args = ap.parse_args()
    if not args.skeleton_check and not args.binary:
        ap.error("--binary is required unless --skeleton-check")

    plan: list[int] = []
    sizes = []
    for part in args.plan.split(","):
        n, _, reps = part.partition("x")
        sizes.append((int(n), int(reps or 1)))
    for rep in range(max(r for _, r in sizes)):
        plan.extend(n for n, r in sizes if rep < r)

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    failures = 0
    for index, n in enumerate(plan):
        run_dir = out / f"run{index + 1:02d}-n{n}"
        run = Run(args, n, run_dir)
        interrupted = False
        try:
            run.start_controlplane()
            run.start_s3()
            asyncio.run(run.measure())
        except KeyboardInterrupt:
            run.result["error"] = "interrupted"
            interrupted = True
        except Exception as err:  # one failed run must not lose the others' results
            run.result["error"] = f"{type(err).__name__}: {err}"
            log(f"N={n}: run failed: {run.result['error']}")
        finally:
            run.stop()
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "result.json").write_text(json.dumps(run.result, indent=1) + "\n")
        failures += "error" in run.result
        if interrupted:
            return 130
    log(f"{len(plan)} run(s), {failures} failed; results in {out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
