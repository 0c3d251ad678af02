#!/usr/bin/env python3
"""Tests for tools/live-emulator (stdlib unittest).

Run: python3 tests/emulator/test_emulator.py -v

The suite starts the emulator as a subprocess on --port 0 (HTTP, and once over HTTPS with a
throwaway self-signed certificate made by the openssl command), signs requests with the small
independent signer below, and stops every process it started.
"""

import base64
import collections
import hashlib
import hmac
import http.client
import importlib.machinery
import importlib.util
import json
import os
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EMULATOR = ROOT / "tools" / "live-emulator"
SEED = ROOT / "tools" / "emulator-seed.json"

KEY_ID, KEY_SECRET = "testid", "testsecret"
STS_ID, STS_SECRET, STS_TOKEN = "stsid", "stssecret", "sts-token-value/with+odd=chars"
DEMO_ID, DEMO_SECRET = "LTAI5tLivepullDemoKey", "LivepullDemoSecret0123456789abcd"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
SCHEDULED_ID = "fd245384-4067-4f91-9d75-9666a6bc0000"
RUNNING_ID = "demo-running-0001"
STOPPED_ID = "demo-stopped-0001"
TIME_FMT = "%Y-%m-%dT%H:%M:%SZ"


def load_emulator_module():
    """Import the extension-less script as a module."""
    loader = importlib.machinery.SourceFileLoader("live_emulator", str(EMULATOR))
    spec = importlib.util.spec_from_loader("live_emulator", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def utc(offset_s=0.0):
    return time.strftime(TIME_FMT, time.gmtime(time.time() + offset_s))


# ---------------------------------------------------------------------------------------------
# A small signer, written independently of the emulator (urllib's quote instead of a byte loop).
# ---------------------------------------------------------------------------------------------


def enc(text):
    return urllib.parse.quote(text, safe="~")


def canonical(params):
    return "&".join("%s=%s" % (enc(k), enc(v)) for k, v in sorted(params.items()))


def v1_sts(method, params):
    signed = {k: v for k, v in params.items() if k != "Signature"}
    return "%s&%s&%s" % (method, enc("/"), enc(canonical(signed)))


def v1_sign(method, params, secret):
    mac = hmac.new((secret + "&").encode(), v1_sts(method, params).encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def v3_canonical(method, query, headers, body):
    names = sorted(headers)
    return "\n".join([method, "/", canonical(query),
                      "".join("%s:%s\n" % (n, headers[n].strip()) for n in names),
                      ";".join(names), hashlib.sha256(body).hexdigest()])


def v3_sts(method, query, headers, body):
    digest = hashlib.sha256(v3_canonical(method, query, headers, body).encode()).hexdigest()
    return "ACS3-HMAC-SHA256\n" + digest


def v3_sign(method, query, headers, body, secret):
    return hmac.new(secret.encode(), v3_sts(method, query, headers, body).encode(), hashlib.sha256).hexdigest()


Response = collections.namedtuple("Response", "status headers raw data")


class EmulatorProcess:
    """One emulator subprocess: start, talk to it, stop it."""

    def __init__(self, *args, tls_context=None):
        self.tmp = tempfile.TemporaryDirectory()
        self.stderr_path = os.path.join(self.tmp.name, "stderr.txt")
        self.stderr_file = open(self.stderr_path, "wb")
        self.tls_context = tls_context
        self.final_stderr = None
        self.proc = subprocess.Popen([sys.executable, str(EMULATOR), "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=self.stderr_file)
        ready, _, _ = select.select([self.proc.stdout], [], [], 10)
        if not ready:
            self.stop()
            raise RuntimeError("the emulator did not start in time")
        self.line = self.proc.stdout.readline().decode()
        match = re.fullmatch(r"live-emulator listening on (https?)://(\[[^\]]+\]|[^:]+):(\d+)\n", self.line)
        if not match:
            self.stop()
            raise RuntimeError("unexpected first line %r, stderr: %s" % (self.line, self.stderr()))
        self.scheme, self.host, self.port = match.group(1), match.group(2).strip("[]"), int(match.group(3))

    def host_header(self):
        return ("[%s]" % self.host if ":" in self.host else self.host) + ":%d" % self.port

    def connect(self, timeout=10):
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=self.tls_context)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def raw_socket(self, timeout=5):
        sock = socket.create_connection((self.host, self.port), timeout=timeout)
        if self.scheme == "https":
            sock = self.tls_context.wrap_socket(sock, server_hostname=self.host)
        return sock

    def control(self, method, path, body=None):
        conn = self.connect()
        try:
            payload = json.dumps(body).encode() if body is not None else None
            conn.request(method, "/_emulator/" + path, body=payload,
                         headers={"Content-Type": "application/json"} if payload else {})
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read())
        finally:
            conn.close()

    def stderr(self):
        if self.final_stderr is not None:
            return self.final_stderr
        with open(self.stderr_path, "rb") as handle:
            return handle.read().decode()

    def stop(self, signum=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.final_stderr is None:
            self.proc.stdout.close()
            self.stderr_file.close()
            self.final_stderr = self.stderr()
            self.tmp.cleanup()
        return self.proc.returncode


class Client:
    """Signs and sends API calls to an emulator; tweaks let a test break one thing at a time."""

    def __init__(self, emulator, key_id=KEY_ID, secret=KEY_SECRET, token=None):
        self.emulator = emulator
        self.key_id, self.secret, self.token = key_id, secret, token

    def call(self, action, params=None, algo="v1", method="GET", conn=None, form=False, **tweaks):
        params = dict(params or {})
        if algo == "v1":
            target, headers, body = self._v1(action, params, method, form, tweaks)
        else:
            target, headers, body = self._v3(action, params, method, tweaks)
        own = conn is None
        conn = conn or self.emulator.connect()
        try:
            conn.request(method, target, body=body, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            if own:
                conn.close()
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        return Response(resp.status, resp.headers, raw, data)

    def _v1(self, action, params, method, form, tweaks):
        common = {
            "Action": action, "Version": tweaks.get("version", "2016-11-01"), "Format": "JSON",
            "AccessKeyId": tweaks.get("key_id", self.key_id), "SignatureMethod": "HMAC-SHA1",
            "SignatureVersion": "1.0", "SignatureNonce": tweaks.get("nonce", uuid.uuid4().hex),
            "Timestamp": tweaks.get("timestamp", utc()),
        }
        token = tweaks.get("token", self.token)
        if token:
            common["SecurityToken"] = token
        all_params = dict(params, **common)
        for name in tweaks.get("drop", ()):
            all_params.pop(name, None)
        all_params["Signature"] = tweaks.get("signature") or v1_sign(method, all_params,
                                                                     tweaks.get("secret", self.secret))
        for name in tweaks.get("drop", ()):
            all_params.pop(name, None)
        encoded = "&".join("%s=%s" % (enc(k), enc(v)) for k, v in all_params.items())
        if form:
            return "/", {"Content-Type": "application/x-www-form-urlencoded"}, encoded.encode()
        return "/?" + encoded, {}, None

    def _v3(self, action, params, method, tweaks):
        body = tweaks.get("body", b"")
        headers = {
            "host": self.emulator.host_header(), "x-acs-action": action,
            "x-acs-version": tweaks.get("version", "2016-11-01"), "x-acs-date": tweaks.get("timestamp", utc()),
            "x-acs-signature-nonce": tweaks.get("nonce", uuid.uuid4().hex),
            "x-acs-content-sha256": tweaks.get("content_sha256", hashlib.sha256(body).hexdigest()),
        }
        token = tweaks.get("token", self.token)
        if token:
            headers["x-acs-security-token"] = token
        for name in tweaks.get("drop", ()):
            headers.pop(name, None)
        signature = tweaks.get("signature") or v3_sign(method, params, headers, body,
                                                       tweaks.get("secret", self.secret))
        signed = ";".join(sorted(tweaks.get("signed_headers", headers)))
        headers["Authorization"] = "ACS3-HMAC-SHA256 Credential=%s,SignedHeaders=%s,Signature=%s" % (
            tweaks.get("key_id", self.key_id), signed, signature)
        target = "/?" + "&".join("%s=%s" % (enc(k), enc(v)) for k, v in params.items()) if params else "/"
        return target, headers, body


# ---------------------------------------------------------------------------------------------
# The published signing vectors, fed to the emulator's own functions.
# ---------------------------------------------------------------------------------------------


class SigningVectorTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m = load_emulator_module()

    V1A = {"Action": "DescribeRegions", "Version": "2014-05-26", "Format": "XML", "SignatureMethod": "HMAC-SHA1",
           "SignatureVersion": "1.0", "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
           "Timestamp": "2016-02-23T12:46:24Z", "AccessKeyId": "testid"}
    U1 = {"Action": "UpdateLivePullToPush", "Version": "2016-11-01", "Format": "JSON", "SignatureMethod": "HMAC-SHA1",
          "SignatureVersion": "1.0", "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
          "Timestamp": "2016-02-23T12:46:24Z", "AccessKeyId": "testid",
          "TaskId": "fd245384-4067-4f91-9d75-9666a6bc0000", "Region": "cn-shanghai", "RepeatNumber": "-1",
          "CallbackUrl": "https://cb.example.com/hook", "EndTime": "2030-01-02T03:04:05Z",
          "SourceUrls": '["rtmp://pull.example.com/app/stream?auth_key=1-0-0-abc&x=1","http://example.com/a b.flv"]'}
    U_BUSINESS = ("TaskId", "Region", "RepeatNumber", "CallbackUrl", "EndTime", "SourceUrls")

    def v1(self, method, params, secret="testsecret"):
        sts = self.m.v1_string_to_sign(method, list(params.items()))
        return sts, self.m.v1_signature(secret, sts)

    def test_v1_a_describe_regions(self):
        self.assertEqual(self.m.canonical_query(list(self.V1A.items())),
                         "AccessKeyId=testid&Action=DescribeRegions&Format=XML&SignatureMethod=HMAC-SHA1"
                         "&SignatureNonce=3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf&SignatureVersion=1.0"
                         "&Timestamp=2016-02-23T12%3A46%3A24Z&Version=2014-05-26")
        sts, signature = self.v1("GET", self.V1A)
        self.assertEqual(sts, "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML"
                              "%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"
                              "%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z"
                              "%26Version%3D2014-05-26")
        self.assertEqual(signature, "OLeaidS1JvxuMvnyHOwuJ+uX5qY=")
        # Variants listed in the API notes.
        self.assertEqual(self.v1("POST", self.V1A)[1], "MxbnVAM4w6sft9xjVpe/GCKueuk=")
        old_name = {("TimeStamp" if k == "Timestamp" else k): v for k, v in self.V1A.items()}
        self.assertEqual(self.v1("GET", old_name)[1], "CT9X0VtwR86fNWSnsc6v8YGOjuE=")
        self.assertEqual(self.v1("POST", old_name)[1], "5uENZMsfxn/+ru4qIwLISpVDa1k=")

    def test_v1_b_describe_dedicated_hosts(self):
        params = {"Action": "DescribeDedicatedHosts", "Version": "2014-05-26", "Format": "JSON",
                  "RegionId": "cn-beijing", "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0",
                  "SignatureNonce": "edb2b34af0af9a6d14deaf7c1a5315eb", "Timestamp": "2023-03-13T08:34:30Z",
                  "AccessKeyId": "testid"}
        sts, signature = self.v1("GET", params)
        self.assertEqual(sts, "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeDedicatedHosts%26Format%3DJSON"
                              "%26RegionId%3Dcn-beijing%26SignatureMethod%3DHMAC-SHA1"
                              "%26SignatureNonce%3Dedb2b34af0af9a6d14deaf7c1a5315eb%26SignatureVersion%3D1.0"
                              "%26Timestamp%3D2023-03-13T08%253A34%253A30Z%26Version%3D2014-05-26")
        self.assertEqual(signature, "9NaGiOspFP5UPcwX8Iwt2YJXXuk=")

    def test_v1_signature_parameter_is_not_signed(self):
        with_signature = dict(self.V1A, Signature="anything")
        self.assertEqual(self.v1("GET", with_signature)[1], "OLeaidS1JvxuMvnyHOwuJ+uX5qY=")

    def test_v3_a_run_instances(self):
        headers = {"host": "ecs.cn-shanghai.aliyuncs.com", "x-acs-action": "RunInstances",
                   "x-acs-version": "2014-05-26", "x-acs-date": "2023-10-26T10:22:32Z",
                   "x-acs-signature-nonce": "3156853299f313e23d1673dc12e1703d", "x-acs-content-sha256": EMPTY_SHA256}
        query = [("ImageId", "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd"), ("RegionId", "cn-shanghai")]
        canonical_request = self.m.v3_canonical_request("POST", query, headers, list(headers), EMPTY_SHA256)
        self.assertEqual(canonical_request, "\n".join([
            "POST", "/", "ImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd&RegionId=cn-shanghai",
            "host:ecs.cn-shanghai.aliyuncs.com", "x-acs-action:RunInstances",
            "x-acs-content-sha256:" + EMPTY_SHA256, "x-acs-date:2023-10-26T10:22:32Z",
            "x-acs-signature-nonce:3156853299f313e23d1673dc12e1703d", "x-acs-version:2014-05-26", "",
            "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version",
            EMPTY_SHA256]))
        sts = self.m.v3_string_to_sign(canonical_request)
        self.assertEqual(sts, "ACS3-HMAC-SHA256\n7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259")
        self.assertEqual(self.m.v3_signature("YourAccessKeySecret", sts),
                         "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0")

    def test_u1_update_v1(self):
        self.assertEqual(
            self.m.canonical_query(list(self.U1.items())),
            "AccessKeyId=testid&Action=UpdateLivePullToPush&CallbackUrl=https%3A%2F%2Fcb.example.com%2Fhook"
            "&EndTime=2030-01-02T03%3A04%3A05Z&Format=JSON&Region=cn-shanghai&RepeatNumber=-1"
            "&SignatureMethod=HMAC-SHA1&SignatureNonce=3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf&SignatureVersion=1.0"
            "&SourceUrls=%5B%22rtmp%3A%2F%2Fpull.example.com%2Fapp%2Fstream%3Fauth_key%3D1-0-0-abc%26x%3D1%22%2C"
            "%22http%3A%2F%2Fexample.com%2Fa%20b.flv%22%5D&TaskId=fd245384-4067-4f91-9d75-9666a6bc0000"
            "&Timestamp=2016-02-23T12%3A46%3A24Z&Version=2016-11-01")
        self.assertEqual(self.v1("GET", self.U1)[1], "HaX1mjqw0pYk64MA0dAqyduppEw=")

    def test_u3_update_v3(self):
        headers = {"host": "live.aliyuncs.com", "x-acs-action": "UpdateLivePullToPush",
                   "x-acs-version": "2016-11-01", "x-acs-date": "2016-02-23T12:46:24Z",
                   "x-acs-signature-nonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
                   "x-acs-content-sha256": EMPTY_SHA256}
        query = [(name, self.U1[name]) for name in self.U_BUSINESS]
        canonical_request = self.m.v3_canonical_request("GET", query, headers, list(headers), EMPTY_SHA256)
        self.assertEqual(hashlib.sha256(canonical_request.encode()).hexdigest(),
                         "0c37cf5f9ba24c25ab588cfe6993d915197a9acbe4473f4929305d09274469ce")
        sts = self.m.v3_string_to_sign(canonical_request)
        self.assertEqual(self.m.v3_signature("testsecret", sts),
                         "afc683dcb176f594c9595761207dabe296364dbdd51f19d1042b603ecbe7f2d4")

    def test_raw_query_round_trip(self):
        """A query encoded by the test signer decodes to the same pairs (no '+' as space)."""
        encoded = "&".join("%s=%s" % (enc(k), enc(v)) for k, v in self.U1.items())
        self.assertEqual(self.m.parse_query(encoded), list(self.U1.items()))
        self.assertEqual(self.m.parse_query("a=1+2&b&=x"), [("a", "1+2"), ("b", ""), ("", "x")])

    def test_test_signer_matches_vectors(self):
        self.assertEqual(v1_sign("GET", self.U1, "testsecret"), "HaX1mjqw0pYk64MA0dAqyduppEw=")
        self.assertEqual(v1_sign("GET", self.V1A, "testsecret"), "OLeaidS1JvxuMvnyHOwuJ+uX5qY=")


# ---------------------------------------------------------------------------------------------
# The signed API, the control API and the faults, against one seeded HTTP emulator.
# ---------------------------------------------------------------------------------------------


class ApiTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.logdir = tempfile.TemporaryDirectory()
        cls.log_path = os.path.join(cls.logdir.name, "requests.log")
        cls.emu = EmulatorProcess("--seed", str(SEED), "--log", cls.log_path,
                                  "--access-key", "%s:%s" % (KEY_ID, KEY_SECRET),
                                  "--access-key", "%s:%s:%s" % (STS_ID, STS_SECRET, STS_TOKEN))
        cls.client = Client(cls.emu)

    @classmethod
    def tearDownClass(cls):
        rc = cls.emu.stop()
        cls.logdir.cleanup()
        assert rc == 0, "emulator exit code %r" % rc

    def setUp(self):
        status, _ = self.emu.control("POST", "reset")
        self.assertEqual(status, 200)

    # -- helpers ------------------------------------------------------------------------------

    def task(self, task_id):
        status, data = self.emu.control("GET", "tasks/" + task_id)
        return data if status == 200 else None

    def put_task(self, task_id, **fields):
        task = {"Region": "cn-shanghai", "State": "scheduled", "StartTime": utc(3600), "EndTime": utc(7200),
                "SourceType": "url", "SourceUrls": ["https://media.example.com/a.mp4"],
                "DstUrl": "rtmp://push.example.com/app/" + task_id}
        task.update(fields)
        status, stored = self.emu.control("PUT", "tasks/" + task_id, task)
        self.assertEqual(status, 200, stored)
        return stored

    def assertError(self, resp, status, code, message=None):
        self.assertEqual((resp.status, resp.data and resp.data.get("Code")), (status, code), resp.raw)
        if message is not None:
            self.assertEqual(resp.data["Message"], message)
        return resp.data

    def update(self, params, algo="v1", **tweaks):
        return self.client.call("UpdateLivePullToPush", params, algo=algo, **tweaks)

    # -- success paths ------------------------------------------------------------------------

    def test_update_v1_success_changes_task(self):
        urls = ["rtmp://pull.example.com/app/new?auth_key=1-0-0-abc&x=1", "http://example.com/b.flv"]
        resp = self.update({"TaskId": SCHEDULED_ID, "Region": "cn-shanghai", "RepeatNumber": "-1",
                            "CallbackUrl": "https://cb.example.com/hook", "EndTime": "2030-08-28T00:00:00Z",
                            "SourceUrls": json.dumps(urls, separators=(",", ":")), "Offset": "7",
                            "FileIndex": "1", "Unknown": "ignored", "RegionId": "cn-beijing"})
        self.assertEqual(resp.status, 200, resp.raw)
        self.assertEqual(resp.data["RetCode"], 0)
        self.assertEqual(resp.data["Description"], "OK")
        self.assertRegex(resp.data["RequestId"], r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")
        self.assertEqual(resp.headers["x-acs-request-id"], resp.data["RequestId"])
        task = self.task(SCHEDULED_ID)
        self.assertEqual((task["RepeatNumber"], task["CallbackUrl"], task["EndTime"], task["SourceUrls"],
                          task["Offset"], task["FileIndex"]),
                         (-1, "https://cb.example.com/hook", "2030-08-28T00:00:00Z", urls, 7, 1))

    def test_update_v3_success_changes_task(self):
        resp = self.update({"TaskId": SCHEDULED_ID, "Region": "cn-shanghai", "CallbackUrl": "",
                            "StartTime": "2030-08-24T00:00:00Z", "SourceUrls": '["rtmp://a.example.com/x y"]'},
                           algo="v3")
        self.assertEqual(resp.status, 200, resp.raw)
        self.assertEqual((resp.data["RetCode"], resp.data["Description"]), (0, "OK"))
        task = self.task(SCHEDULED_ID)
        self.assertEqual((task["CallbackUrl"], task["StartTime"], task["SourceUrls"]),
                         ("", "2030-08-24T00:00:00Z", ["rtmp://a.example.com/x y"]))

    def test_update_running_task_callback_and_repeat_allowed(self):
        resp = self.update({"TaskId": RUNNING_ID, "Region": "cn-beijing", "CallbackUrl": "https://cb/x",
                            "RepeatNumber": "3"})
        self.assertEqual(resp.status, 200, resp.raw)
        self.assertEqual(self.task(RUNNING_ID)["RepeatNumber"], 3)

    def test_update_region_while_scheduled(self):
        resp = self.update({"TaskId": SCHEDULED_ID, "Region": "cn-beijing"}, algo="v3")
        self.assertEqual(resp.status, 200, resp.raw)
        self.assertEqual(self.task(SCHEDULED_ID)["Region"], "cn-beijing")

    def test_update_stopped_task_everything_but_region(self):
        resp = self.update({"TaskId": STOPPED_ID, "Region": "cn-shanghai", "Offset": "30", "FileIndex": "1",
                            "StartTime": "2030-08-23T16:00:00Z"})
        self.assertEqual(resp.status, 200, resp.raw)
        task = self.task(STOPPED_ID)
        self.assertEqual((task["Offset"], task["FileIndex"], task["State"]), (30, 1, "stopped"))

    def test_v1_post_form_body(self):
        resp = self.client.call("CreateLivePullToPush", self.create_params(DstUrl="rtmp://push.example.com/f/1"),
                                method="POST", form=True)
        self.assertEqual(resp.status, 200, resp.raw)
        self.assertIn("TaskId", resp.data)

    def test_v3_post_with_body(self):
        body = b'{"note":"signed body"}'
        resp = self.client.call("CreateLivePullToPush", self.create_params(DstUrl="rtmp://push.example.com/f/2"),
                                algo="v3", method="POST", body=body)
        self.assertEqual(resp.status, 200, resp.raw)
        bad = self.client.call("CreateLivePullToPush", self.create_params(DstUrl="rtmp://push.example.com/f/3"),
                               algo="v3", method="POST", body=body, content_sha256=EMPTY_SHA256)
        self.assertError(bad, 400, "InvalidParameter")

    # -- gateway errors -----------------------------------------------------------------------

    def test_missing_auth_parameters(self):
        for name in ("Signature", "SignatureNonce", "Timestamp", "AccessKeyId", "Version", "Action"):
            with self.subTest(v1=name):
                resp = self.update({"TaskId": SCHEDULED_ID, "Region": "cn-shanghai"}, drop=[name])
                self.assertIn('"%s"' % name, self.assertError(resp, 400, "MissingParameter")["Message"])
        for name in ("x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256", "x-acs-version"):
            with self.subTest(v3=name):
                resp = self.update({"TaskId": SCHEDULED_ID, "Region": "cn-shanghai"}, algo="v3", drop=[name])
                self.assertIn('"%s"' % name, self.assertError(resp, 400, "MissingParameter")["Message"])

    def test_v3_required_header_not_signed(self):
        resp = self.update({"TaskId": SCHEDULED_ID, "Region": "cn-shanghai"}, algo="v3",
                           signed_headers=["host", "x-acs-action", "x-acs-version", "x-acs-date",
                                           "x-acs-signature-nonce"])
        self.assertError(resp, 400, "IncompleteSignature")

    def test_missing_business_parameter(self):
        resp = self.update({"Region": "cn-shanghai"})
        self.assertError(resp, 400, "MissingParameter",
                         'The input parameter "TaskId" that is mandatory for processing this request '
                         'is not supplied.')
        resp = self.update({"TaskId": SCHEDULED_ID, "Region": ""}, algo="v3")
        self.assertIn('"Region"', self.assertError(resp, 400, "MissingParameter")["Message"])

    def test_invalid_parameters(self):
        cases = [
            ("RepeatNumber", "-2"), ("RepeatNumber", "one"), ("Offset", "0"), ("FileIndex", "-1"),
            ("SourceUrls", "rtmp://not-json"), ("SourceUrls", "[]"), ("SourceUrls", '"rtmp://x"'),
            ("SourceUrls", json.dumps(["rtmp://x/%d" % i for i in range(31)])), ("SourceUrls", "[1]"),
            ("CallbackUrl", "h" * 2001), ("EndTime", utc(-60)), ("EndTime", "2030-13-01T00:00:00Z"),
            ("StartTime", "2030-01-01 00:00:00"), ("Region", "us-west-1"),
        ]
        for name, value in cases:
            with self.subTest(name=name, value=value[:40]):
                params = {"TaskId": SCHEDULED_ID, "Region": "cn-shanghai", name: value}
                data = self.assertError(self.update(params), 400, "InvalidParameter")
                self.assertIn(name, data["Message"])
        self.assertEqual(self.task(SCHEDULED_ID)["RepeatNumber"], 0)

    def test_invalid_version(self):
        for algo in ("v1", "v3"):
            resp = self.update({"TaskId": SCHEDULED_ID, "Region": "cn-shanghai"}, algo=algo, version="2014-05-26")
            self.assertError(resp, 400, "InvalidVersion")

    def test_unknown_access_key(self):
        for algo in ("v1", "v3"):
            resp = self.update({"TaskId": SCHEDULED_ID, "Region": "cn-shanghai"}, algo=algo, key_id="nobody")
            self.assertError(resp, 404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")

    def test_timestamp_format(self):
        for algo in ("v1", "v3"):
            for stamp in ("2030-01-01T00:00:00", "2030-01-01T00:00:00.000Z", "yesterday", "2030-02-30T00:00:00Z"):
                resp = self.update({"TaskId": SCHEDULED_ID, "Region": "cn-shanghai"}, algo=algo, timestamp=stamp)
                self.assertError(resp, 400, "InvalidTimeStamp.Format")

    def test_timestamp_expired(self):
        for algo in ("v1", "v3"):
            for offset in (-16 * 60, 16 * 60):
                resp = self.update({"TaskId": SCHEDULED_ID, "Region": "cn-shanghai"}, algo=algo,
                                   timestamp=utc(offset))
                self.assertError(resp, 400, "InvalidTimeStamp.Expired")
            resp = self.update({"TaskId": SCHEDULED_ID, "Region": "cn-shanghai"}, algo=algo, timestamp=utc(-600))
            self.assertEqual(resp.status, 200, resp.raw)

    def test_signature_mismatch_v1_reports_string_to_sign(self):
        params = {"TaskId": SCHEDULED_ID, "Region": "cn-shanghai", "CallbackUrl": "https://x/y?a=b c"}
        nonce, stamp = uuid.uuid4().hex, utc()
        resp = self.update(params, secret="wrong", nonce=nonce, timestamp=stamp)
        data = self.assertError(resp, 400, "SignatureDoesNotMatch")
        expected = v1_sts("GET", dict(params, Action="UpdateLivePullToPush", Version="2016-11-01", Format="JSON",
                                      AccessKeyId=KEY_ID, SignatureMethod="HMAC-SHA1", SignatureVersion="1.0",
                                      SignatureNonce=nonce, Timestamp=stamp))
        self.assertEqual(data["Message"], "Specified signature is not matched with our calculation. "
                                          "server string to sign is:" + expected)

    def test_signature_mismatch_v3_reports_string_to_sign(self):
        params = {"TaskId": SCHEDULED_ID, "Region": "cn-shanghai"}
        resp = self.update(params, algo="v3", signature="0" * 64)
        data = self.assertError(resp, 400, "SignatureDoesNotMatch")
        prefix = "Specified signature is not matched with our calculation. server string to sign is:"
        self.assertRegex(data["Message"], "^" + re.escape(prefix) + "ACS3-HMAC-SHA256\n[0-9a-f]{64}$")
        self.assertIn("\\n", resp.raw.decode())  # the newline travels JSON-escaped

    def test_nonce_reuse(self):
        params = {"TaskId": SCHEDULED_ID, "Region": "cn-shanghai"}
        nonce = uuid.uuid4().hex
        # A request that fails the signature check does not burn its nonce.
        self.assertError(self.update(params, nonce=nonce, secret="wrong"), 400, "SignatureDoesNotMatch")
        self.assertEqual(self.update(params, nonce=nonce).status, 200)
        self.assertError(self.update(params, nonce=nonce), 400, "SignatureNonceUsed",
                         "Specified signature nonce was used already.")
        self.assertError(self.update(params, algo="v3", nonce=nonce), 400, "SignatureNonceUsed")
        # Nonces are per AccessKeyId.
        sts_client = Client(self.emu, STS_ID, STS_SECRET, STS_TOKEN)
        resp = sts_client.call("UpdateLivePullToPush", params, nonce=nonce)
        self.assertEqual(resp.status, 200, resp.raw)

    def test_unknown_action_and_wrong_method(self):
        resp = self.client.call("DescribeLiveStreamsOnlineList", {"DomainName": "x"})
        self.assertError(resp, 404, "InvalidAction.NotFound")
        resp = self.client.call("UpdateLivePullToPush", {"TaskId": SCHEDULED_ID, "Region": "cn-shanghai"},
                                algo="v3", method="POST")
        self.assertError(resp, 404, "InvalidAction.NotFound")

    def test_throttling_with_config(self):
        status, data = self.emu.control("POST", "config", {"qps": 2})
        self.assertEqual((status, data), (200, {"qps": 2}))
        params = {"TaskId": SCHEDULED_ID, "Region": "cn-shanghai"}
        results = [self.update(params) for _ in range(3)]
        self.assertEqual([r.status for r in results[:2]], [200, 200])
        data = self.assertError(results[2], 400, "Throttling.User", "Request was denied due to user flow control.")
        match = re.fullmatch(r"Limit:2,Remain:0,TimeLeft:(\d+),Reset:(\d+)",
                             results[2].headers["x-ratelimit-user-api"])
        self.assertTrue(match, results[2].headers["x-ratelimit-user-api"])
        self.assertTrue(1 <= int(match.group(1)) <= 1000)
        self.assertAlmostEqual(int(match.group(2)), time.time() * 1000 + int(match.group(1)), delta=2000)
        self.assertIn("RequestId", data)
        # The window is per AccessKeyId.
        sts_client = Client(self.emu, STS_ID, STS_SECRET, STS_TOKEN)
        self.assertEqual(sts_client.call("UpdateLivePullToPush", params).status, 200)
        time.sleep(int(match.group(1)) / 1000 + 0.05)
        self.assertEqual(self.update(params).status, 200)
        self.emu.control("POST", "config", {"qps": 0})
        self.assertEqual([self.update(params).status for _ in range(5)], [200] * 5)

    def test_security_token(self):
        params = {"TaskId": SCHEDULED_ID, "Region": "cn-shanghai"}
        sts_client = Client(self.emu, STS_ID, STS_SECRET, STS_TOKEN)
        for algo in ("v1", "v3"):
            with self.subTest(algo=algo):
                self.assertEqual(sts_client.call("UpdateLivePullToPush", params, algo=algo).status, 200)
                for token in ("wrong-token", None):
                    resp = sts_client.call("UpdateLivePullToPush", params, algo=algo, token=token)
                    self.assertError(resp, 400, "InvalidSecurityToken.MismatchWithAccessKey")
                resp = self.client.call("UpdateLivePullToPush", params, algo=algo, token=STS_TOKEN)
                self.assertError(resp, 400, "InvalidSecurityToken.MismatchWithAccessKey")

    # -- business errors ----------------------------------------------------------------------

    def test_task_not_exist(self):
        resp = self.update({"TaskId": "no-such-task", "Region": "cn-shanghai"})
        self.assertError(resp, 400, "CodeTaskNotExist", "Task does not exist.")
        for action in ("DescribeLivePullToPush", "StopLivePullToPush", "RestartLivePullToPush",
                       "DeleteLivePullToPush"):
            with self.subTest(action=action):
                wrong_region = self.client.call(action, {"TaskId": SCHEDULED_ID, "Region": "cn-beijing"})
                self.assertError(wrong_region, 400, "CodeTaskNotExist")
                unknown = self.client.call(action, {"TaskId": "nope", "Region": "cn-beijing"}, algo="v3")
                self.assertError(unknown, 400, "CodeTaskNotExist")

    def test_task_has_started_region_rule(self):
        for task_id in (RUNNING_ID, STOPPED_ID):
            resp = self.update({"TaskId": task_id, "Region": "ap-southeast-1"})
            self.assertError(resp, 400, "CodeTaskHasStarted", "The task has already started.")

    def test_task_has_started_running_rule(self):
        frozen = {"StartTime": "2030-08-23T16:00:00Z", "EndTime": "2030-08-27T15:00:00Z",
                  "SourceUrls": '["rtmp://other.example.com/a/b"]', "Offset": "5", "FileIndex": "2"}
        for name, value in frozen.items():
            with self.subTest(name=name):
                resp = self.update({"TaskId": RUNNING_ID, "Region": "cn-beijing", name: value,
                                    "CallbackUrl": "https://cb/changed"})
                self.assertError(resp, 400, "CodeTaskHasStarted")
        self.assertEqual(self.task(RUNNING_ID)["CallbackUrl"], "")

    def test_illegal_duration(self):
        message = "The value of start time should be less than the value of end time."
        for start in ("2030-08-27T14:30:00Z", "2030-09-01T00:00:00Z"):
            resp = self.update({"TaskId": SCHEDULED_ID, "Region": "cn-shanghai", "StartTime": start})
            self.assertError(resp, 400, "InvalidParam.CodeIllegalDuration", message)
        resp = self.update({"TaskId": SCHEDULED_ID, "Region": "cn-shanghai", "StartTime": "2030-08-26T00:00:00Z",
                            "EndTime": "2030-08-25T00:00:00Z"}, algo="v3")
        self.assertError(resp, 400, "InvalidParam.CodeIllegalDuration", message)

    # -- the task family ----------------------------------------------------------------------

    def create_params(self, **overrides):
        params = {"Region": "cn-shenzhen", "StartTime": utc(3600), "EndTime": utc(7200), "SourceType": "live",
                  "SourceProtocol": "rtmp", "SourceUrls": '["rtmp://pull.example.com/live/s1"]',
                  "DstUrl": "rtmp://push.example.com/live/new", "TaskName": "family-test",
                  "CallbackUrl": "https://cb.example.com/x", "RetryCount": "5", "RetryInterval": "90"}
        params.update(overrides)
        return params

    def test_family_round_trip(self):
        created = self.client.call("CreateLivePullToPush", self.create_params(), method="POST", algo="v3")
        self.assertEqual(created.status, 200, created.raw)
        task_id = created.data["TaskId"]
        self.assertEqual((created.data["RetCode"], created.data["Description"]), (0, "OK"))
        uuid.UUID(task_id)
        key = {"TaskId": task_id, "Region": "cn-shenzhen"}

        described = self.client.call("DescribeLivePullToPush", key)
        self.assertEqual(described.status, 200, described.raw)
        self.assertEqual((described.data["TaskId"], described.data["TaskStatus"], described.data["RetCode"]),
                         (task_id, 0, 0))
        info = described.data["TaskInfo"]
        self.assertEqual(info["CallbackURL"], "https://cb.example.com/x")
        self.assertEqual(info["SourceUrls"], ["rtmp://pull.example.com/live/s1"])
        self.assertEqual((info["SourceType"], info["SourceProtocol"], info["RetryCount"], info["RetryInterval"],
                          info["TaskName"], info["DstUrl"], info["TaskId"]),
                         ("live", "rtmp", 5, 90, "family-test", "rtmp://push.example.com/live/new", task_id))
        self.assertEqual(set(info), {"CallbackURL", "DstUrl", "EndTime", "FileIndex", "Offset", "RepeatNumber",
                                     "RetryCount", "RetryInterval", "SourceProtocol", "SourceType", "SourceUrls",
                                     "StartTime", "TaskId", "TaskName"})

        # Stop does nothing before the start; Restart does nothing either.
        for action in ("StopLivePullToPush", "RestartLivePullToPush"):
            resp = self.client.call(action, key, algo="v3")
            self.assertEqual((resp.status, set(resp.data)), (200, {"RequestId", "TaskId"}), resp.raw)
            self.assertEqual(self.task(task_id)["State"], "scheduled")
        self.put_task(task_id, **dict(self.task(task_id), State="running"))
        self.assertEqual(self.client.call("StopLivePullToPush", key).data["TaskId"], task_id)
        self.assertEqual(self.client.call("DescribeLivePullToPush", key).data["TaskStatus"], 3)
        self.client.call("RestartLivePullToPush", key)
        self.assertEqual(self.client.call("DescribeLivePullToPush", key).data["TaskStatus"], 1)
        self.client.call("RestartLivePullToPush", key)
        self.assertEqual(self.task(task_id)["State"], "running")

        deleted = self.client.call("DeleteLivePullToPush", key)
        self.assertEqual((deleted.status, deleted.data["RetCode"], deleted.data["Description"]), (200, 0, "OK"))
        self.assertIsNone(self.task(task_id))
        self.assertError(self.client.call("DeleteLivePullToPush", key), 400, "CodeTaskNotExist")

    def test_create_via_get_and_rules(self):
        ok = self.client.call("CreateLivePullToPush", self.create_params(
            SourceType="vod", SourceProtocol="whatever-ignored", SourceUrls='["a","b","c"]', Offset="3",
            FileIndex="1", RepeatNumber="-1"))
        self.assertEqual(ok.status, 200, ok.raw)
        task = self.task(ok.data["TaskId"])
        self.assertEqual((task["State"], task["SourceUrls"], task["Offset"], task["SourceProtocol"]),
                         ("scheduled", ["a", "b", "c"], 3, ""))
        missing = self.create_params()
        del missing["SourceProtocol"]
        self.assertIn('"SourceProtocol"', self.assertError(
            self.client.call("CreateLivePullToPush", missing), 400, "MissingParameter")["Message"])
        for name in ("Region", "StartTime", "EndTime", "SourceType", "SourceUrls", "DstUrl"):
            params = self.create_params()
            del params[name]
            self.assertError(self.client.call("CreateLivePullToPush", params), 400, "MissingParameter")
        invalid = [("SourceUrls", '["rtmp://a/1","rtmp://a/2"]'), ("DstUrl", "http://push.example.com/x"),
                   ("DstUrl", "rtmp://" + "x" * 2000), ("SourceType", "file"), ("SourceProtocol", "rtsp"),
                   ("RetryInterval", "59"), ("RetryInterval", "301"), ("Region", "eu-central-1"),
                   ("DstUrl", "rtmp://push.example.com/live/demo-running")]
        for name, value in invalid:
            with self.subTest(name=name, value=value[:40]):
                resp = self.client.call("CreateLivePullToPush", self.create_params(**{name: value}))
                self.assertError(resp, 400, "InvalidParameter")
        resp = self.client.call("CreateLivePullToPush", self.create_params(StartTime=utc(7200), EndTime=utc(3600)))
        self.assertError(resp, 400, "InvalidParam.CodeIllegalDuration")

    def test_describe_list(self):
        for index in range(3):
            self.put_task("list-%d" % index, Region="cn-shanghai", TaskName="batch-%d" % index)
        listed = self.client.call("DescribeLivePullToPushList", {"Region": "cn-shanghai"})
        self.assertEqual(listed.status, 200, listed.raw)
        ids = [item["TaskId"] for item in listed.data["TaskList"]]
        self.assertEqual(ids, sorted([SCHEDULED_ID, STOPPED_ID, "list-0", "list-1", "list-2"]))
        self.assertEqual((listed.data["Total"], listed.data["PageNumber"], listed.data["PageSize"]), (5, 1, 10))
        statuses = {item["TaskId"]: item["TaskStatus"] for item in listed.data["TaskList"]}
        self.assertEqual((statuses[SCHEDULED_ID], statuses[STOPPED_ID]), (0, 3))
        self.assertEqual(listed.data["TaskList"][0]["TaskInfo"]["TaskId"], ids[0])

        page = self.client.call("DescribeLivePullToPushList", {"Region": "cn-shanghai", "PageSize": "2",
                                                               "PageNumber": "2"}, algo="v3")
        self.assertEqual(([t["TaskId"] for t in page.data["TaskList"]], page.data["Total"]), (ids[2:4], 5))
        filtered = self.client.call("DescribeLivePullToPushList", {"Region": "cn-shanghai", "TaskName": "batch-",
                                                                   "TaskId": "list-1"})
        self.assertEqual([t["TaskId"] for t in filtered.data["TaskList"]], ["list-1"])
        by_dst = self.client.call("DescribeLivePullToPushList", {"Region": "cn-beijing", "DstUrl": "demo-run"})
        self.assertEqual([t["TaskStatus"] for t in by_dst.data["TaskList"]], [1])
        for name, value in (("PageSize", "0"), ("PageSize", "101"), ("PageNumber", "0"), ("PageNumber", "x")):
            resp = self.client.call("DescribeLivePullToPushList", {"Region": "cn-shanghai", name: value})
            self.assertError(resp, 400, "InvalidParameter")
        self.assertError(self.client.call("DescribeLivePullToPushList", {}), 400, "MissingParameter")

    def test_time_driven_life_cycle(self):
        self.put_task("starts-now", StartTime=utc(-5), EndTime=utc(3600))
        resp = self.client.call("DescribeLivePullToPush", {"TaskId": "starts-now", "Region": "cn-shanghai"})
        self.assertEqual(resp.data["TaskStatus"], 1)
        self.put_task("explicitly-stopped", State="stopped", StartTime=utc(-5), EndTime=utc(3600))
        self.assertEqual(self.task("explicitly-stopped")["State"], "stopped")
        self.put_task("ends-now", State="running", StartTime=utc(-60), EndTime=utc(-1))
        self.assertIsNone(self.task("ends-now"))
        resp = self.client.call("DescribeLivePullToPush", {"TaskId": "ends-now", "Region": "cn-shanghai"})
        self.assertError(resp, 400, "CodeTaskNotExist")

    # -- response shape, log, control API -----------------------------------------------------

    def test_error_body_shape(self):
        resp = self.update({"TaskId": "missing", "Region": "cn-shanghai"})
        self.assertEqual(resp.headers["Content-Type"], "application/json;charset=utf-8")
        self.assertEqual(int(resp.headers["Content-Length"]), len(resp.raw))
        self.assertEqual(set(resp.data), {"RequestId", "HostId", "Code", "Message", "Recommend"})
        self.assertEqual(resp.data["HostId"], "live.aliyuncs.com")
        self.assertEqual(resp.headers["x-acs-request-id"], resp.data["RequestId"])
        self.assertEqual(resp.data["Recommend"], "https://api.aliyun.com/troubleshoot?q=CodeTaskNotExist"
                                                 "&product=live&requestId=" + resp.data["RequestId"])

    def test_request_log(self):
        sts_client = Client(self.emu, STS_ID, STS_SECRET, STS_TOKEN)
        sts_client.call("UpdateLivePullToPush", {"TaskId": SCHEDULED_ID, "Region": "cn-shanghai"}, algo="v3",
                        nonce="nonce-v3")
        self.update({"TaskId": SCHEDULED_ID, "Region": "cn-shanghai"}, nonce="nonce-v1", secret="bad")
        self.emu.control("GET", "health")
        status, data = self.emu.control("GET", "requests")
        self.assertEqual(status, 200)
        first, second = data["requests"]
        keys = {"time", "method", "path", "action", "algorithm", "access_key_id", "nonce", "status", "code",
                "fault", "duration_ms", "task_id", "params"}
        self.assertEqual((set(first), set(second)), (keys, keys))
        self.assertEqual((first["algorithm"], first["access_key_id"], first["nonce"], first["status"],
                          first["code"], first["action"], first["path"], first["method"]),
                         ("ACS3-HMAC-SHA256", STS_ID, "nonce-v3", 200, None, "UpdateLivePullToPush", "/", "GET"))
        self.assertEqual((first["task_id"], first["params"]), (SCHEDULED_ID, ["Region", "TaskId"]))
        self.assertEqual(second["params"], ["Region", "TaskId"])  # V1's common parameters are left out
        self.assertEqual((second["algorithm"], second["status"], second["code"], second["fault"]),
                         ("HMAC-SHA1", 400, "SignatureDoesNotMatch", None))
        self.assertRegex(first["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        with open(self.log_path, encoding="utf-8") as handle:
            text = handle.read()
        lines = [json.loads(line) for line in text.splitlines()]
        self.assertIn(first, lines)
        for secret in (KEY_SECRET, STS_SECRET, STS_TOKEN, "Signature="):
            self.assertNotIn(secret, text)

    def test_control_api(self):
        self.assertEqual(self.emu.control("GET", "health"), (200, {"ok": True}))
        self.assertEqual(self.emu.control("GET", "tasks/nope"), (404, {"error": "no such task"}))
        status, task = self.emu.control("GET", "tasks/" + RUNNING_ID)
        self.assertEqual((status, task["State"], task["Region"]), (200, "running", "cn-beijing"))
        self.assertEqual(list(task), ["TaskId", "Region", "State", "StartTime", "EndTime", "SourceType",
                                      "SourceProtocol", "SourceUrls", "DstUrl", "CallbackUrl", "RepeatNumber",
                                      "Offset", "FileIndex", "RetryCount", "RetryInterval", "TaskName"])
        stored = self.put_task("from-path", TaskId="ignored-body-id", State="stopped")
        self.assertEqual((stored["TaskId"], stored["State"]), ("from-path", "stopped"))
        status, error = self.emu.control("PUT", "tasks/bad", {"Region": "cn-shanghai", "State": "weird",
                                                               "StartTime": utc(60), "EndTime": utc(120)})
        self.assertEqual(status, 400)
        self.assertIn("State", error["error"])
        self.assertEqual(self.emu.control("POST", "faults", {"faults": [{"kind": "nope"}]})[0], 400)
        self.assertEqual(self.emu.control("GET", "nothing-here")[0], 404)
        self.emu.control("POST", "reset")
        self.assertIsNone(self.task("from-path"))
        self.assertEqual(self.emu.control("GET", "requests"), (200, {"requests": []}))

    def test_keep_alive(self):
        conn = self.emu.connect()
        try:
            started = time.monotonic()
            first = self.update({"TaskId": SCHEDULED_ID, "Region": "cn-shanghai"}, conn=conn)
            sock = conn.sock
            statuses = [first.status]
            for index in range(99):
                resp = self.update({"TaskId": SCHEDULED_ID, "Region": "cn-shanghai", "RepeatNumber": str(index)},
                                   algo=("v1", "v3")[index % 2], conn=conn)
                statuses.append(resp.status)
            elapsed = time.monotonic() - started
            self.assertIs(conn.sock, sock, "the connection was not reused")
        finally:
            conn.close()
        self.assertEqual(statuses, [200] * 100)
        self.assertLess(elapsed, 5.0)
        self.assertEqual(self.task(SCHEDULED_ID)["RepeatNumber"], 98)

    def test_expect_100_continue_is_answered_at_once(self):
        sock = self.emu.raw_socket()
        try:
            sock.sendall(("PUT /_emulator/tasks/e HTTP/1.1\r\nHost: %s\r\nContent-Length: 2\r\n"
                          "Expect: 100-continue\r\n\r\n" % self.emu.host_header()).encode())
            sock.settimeout(0.5)  # curl would wait a full second for it
            self.assertTrue(sock.recv(100).startswith(b"HTTP/1.1 100"))
            sock.sendall(b"[]")
            sock.settimeout(5)
            self.assertTrue(sock.recv(1000).startswith(b"HTTP/1.1 400"))
        finally:
            sock.close()

    def test_stderr_stays_empty_with_log_file(self):
        self.inject({"kind": "reset"})
        self.raw_exchange()
        self.update({"TaskId": SCHEDULED_ID, "Region": "cn-shanghai"})
        self.assertEqual(self.emu.stderr(), "")

    # -- task states: retrying (TaskStatus 2) and exited (-1) --------------------------------------

    def test_retrying_task_takes_only_callback_and_repeat(self):
        self.put_task("retrying-1", State="retrying", StartTime=utc(-60))
        key = {"TaskId": "retrying-1", "Region": "cn-shanghai"}
        self.assertEqual(self.client.call("DescribeLivePullToPush", key).data["TaskStatus"], 2)
        self.assertEqual(self.update(dict(key, CallbackUrl="https://cb/r", RepeatNumber="2")).status, 200)
        for name, value in (("Offset", "5"), ("FileIndex", "1"), ("EndTime", utc(7000)),
                            ("SourceUrls", '["https://media.example.com/b.mp4"]')):
            with self.subTest(name=name):
                self.assertError(self.update(dict(key, **{name: value})), 400, "CodeTaskHasStarted")
        self.client.call("StopLivePullToPush", key)
        self.assertEqual(self.task("retrying-1")["State"], "stopped")
        self.put_task("retrying-1", **dict(self.task("retrying-1"), State="retrying"))
        self.client.call("RestartLivePullToPush", key)
        self.assertEqual(self.task("retrying-1")["State"], "running")

    def test_exited_task_takes_no_change(self):
        self.put_task("exited-1", State="exited", StartTime=utc(-60))
        key = {"TaskId": "exited-1", "Region": "cn-shanghai"}
        self.assertEqual(self.client.call("DescribeLivePullToPush", key).data["TaskStatus"], -1)
        for name, value in (("CallbackUrl", "https://cb/e"), ("RepeatNumber", "1"), ("Offset", "5")):
            with self.subTest(name=name):
                self.assertError(self.update(dict(key, **{name: value})), 400, "CodeTaskHasStarted")
        for action in ("StopLivePullToPush", "RestartLivePullToPush"):
            self.assertEqual(self.client.call(action, key).status, 200)
            self.assertEqual(self.task("exited-1")["State"], "exited")

    # -- faults -------------------------------------------------------------------------------

    def test_fault_for_one_action_and_task(self):
        self.inject({"kind": "error", "status": 500, "code": "InternalError", "action": "UpdateLivePullToPush",
                     "task_id": STOPPED_ID})
        key = {"TaskId": STOPPED_ID, "Region": "cn-shanghai"}
        self.assertEqual(self.client.call("DescribeLivePullToPush", key).status, 200)  # another action
        self.assertEqual(self.update({"TaskId": SCHEDULED_ID, "Region": "cn-shanghai"}).status, 200)  # another task
        self.assertError(self.update(key), 500, "InternalError")
        self.assertEqual(self.update(key).status, 200)  # used up
        self.assertEqual(self.emu.control("POST", "faults", {"faults": [{"kind": "error", "action": 1}]})[0], 400)

    def inject(self, *faults):
        status, data = self.emu.control("POST", "faults", {"faults": list(faults)})
        self.assertEqual(status, 200, data)

    def raw_exchange(self, target="/?Action=UpdateLivePullToPush"):
        """Send one request on a raw socket; returns (bytes received, error or None)."""
        sock = self.emu.raw_socket()
        received, error = b"", None
        try:
            sock.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target, self.emu.host_header())).encode())
            while True:
                piece = sock.recv(65536)
                if not piece:
                    break
                received += piece
        except OSError as problem:
            error = problem
        finally:
            sock.close()
        return received, error

    def last_logged_fault(self, wait_s=0.0):
        """The fault kind of the newest log entry (entries are written when a response ends)."""
        deadline = time.monotonic() + wait_s
        while True:
            entries = self.emu.control("GET", "requests")[1]["requests"]
            if entries or time.monotonic() >= deadline:
                return entries[-1]["fault"] if entries else None
            time.sleep(0.05)

    def test_fault_error(self):
        self.inject({"kind": "error", "status": 503, "code": "ServiceUnavailable", "message": "try later",
                     "headers": {"x-extra": "1"}, "count": 2})
        for _ in range(2):
            resp = self.update({"TaskId": SCHEDULED_ID, "Region": "cn-shanghai"})
            self.assertError(resp, 503, "ServiceUnavailable", "try later")
            self.assertEqual(resp.headers["x-extra"], "1")
            self.assertEqual(resp.data["HostId"], "live.aliyuncs.com")
        self.assertEqual(self.update({"TaskId": SCHEDULED_ID, "Region": "cn-shanghai"}).status, 200)
        logged = self.emu.control("GET", "requests")[1]["requests"]
        self.assertEqual([(e["fault"], e["code"]) for e in logged],
                         [("error", "ServiceUnavailable")] * 2 + [(None, None)])

    def test_fault_comes_before_auth(self):
        self.inject({"kind": "retcode", "ret_code": 1, "description": "busy"})
        received, _ = self.raw_exchange("/?no=auth")
        self.assertIn(b'"RetCode":1', received)
        self.assertIn(b'"Description":"busy"', received)

    def test_fault_throttle(self):
        self.inject({"kind": "throttle", "time_left_ms": 200, "retry_after_ms": 250})
        resp = self.update({"TaskId": SCHEDULED_ID, "Region": "cn-shanghai"})
        self.assertError(resp, 400, "Throttling.User", "Request was denied due to user flow control.")
        self.assertRegex(resp.headers["x-ratelimit-user-api"], r"^Limit:\d+,Remain:0,TimeLeft:200,Reset:\d+$")
        self.assertEqual(resp.headers["x-acs-retry-after"], "250")
        self.assertEqual(self.last_logged_fault(), "throttle")

    def test_fault_raw(self):
        self.inject({"kind": "raw", "status": 200, "body": "<html>oops</html>", "content_type": "text/html"})
        resp = self.update({"TaskId": SCHEDULED_ID, "Region": "cn-shanghai"})
        self.assertEqual((resp.status, resp.raw, resp.headers["Content-Type"]), (200, b"<html>oops</html>",
                                                                                  "text/html"))

    def test_fault_echo(self):
        self.inject({"kind": "echo"})
        resp = self.update({"TaskId": SCHEDULED_ID, "Region": "cn-shanghai"})
        self.assertEqual((resp.status, resp.data["Code"]), (400, "GatewayError"))
        for field in ("Message", "Recommend", "HostId"):
            self.assertIn("TaskId=" + SCHEDULED_ID, resp.data[field])
            self.assertIn("\r\nHost: ", resp.data[field])
        self.inject({"kind": "echo", "encode": 2, "fields": ["Recommend"], "status": 502})
        resp = self.update({"TaskId": SCHEDULED_ID, "Region": "cn-shanghai"})
        self.assertEqual(resp.status, 502)
        self.assertIn("TaskId%253D" + SCHEDULED_ID, resp.data["Recommend"])
        self.assertEqual(resp.data["Message"], "the gateway refused the request")
        self.inject({"kind": "echo", "json": False})
        resp = self.update({"TaskId": SCHEDULED_ID, "Region": "cn-shanghai"})
        self.assertTrue(resp.raw.startswith(b"GET /?"))
        self.assertEqual(self.last_logged_fault(), "echo")

    def test_fault_retcode(self):
        self.inject({"kind": "retcode", "ret_code": 1, "description": "Internal failure"})
        resp = self.update({"TaskId": SCHEDULED_ID, "Region": "cn-shanghai"})
        self.assertEqual(resp.status, 200)
        self.assertEqual((resp.data["RetCode"], resp.data["Description"], set(resp.data)),
                         (1, "Internal failure", {"RequestId", "RetCode", "Description"}))

    def test_fault_delay(self):
        self.inject({"kind": "delay", "seconds": 0.3})
        started = time.monotonic()
        resp = self.update({"TaskId": SCHEDULED_ID, "Region": "cn-shanghai", "RepeatNumber": "4"})
        self.assertGreaterEqual(time.monotonic() - started, 0.3)
        self.assertEqual(resp.status, 200)
        self.assertEqual(self.task(SCHEDULED_ID)["RepeatNumber"], 4)
        self.assertEqual(self.last_logged_fault(), "delay")

    def test_fault_reset(self):
        self.inject({"kind": "reset"})
        received, error = self.raw_exchange()
        self.assertEqual(received, b"")
        self.assertTrue(error is None or isinstance(error, ConnectionResetError), repr(error))
        self.assertEqual(self.last_logged_fault(), "reset")
        with self.assertRaises((ConnectionResetError, http.client.RemoteDisconnected)):
            self.inject({"kind": "reset"})
            self.update({"TaskId": SCHEDULED_ID, "Region": "cn-shanghai"})

    def test_fault_truncate(self):
        self.inject({"kind": "truncate"})
        received, _ = self.raw_exchange()
        head, _, body = received.partition(b"\r\n\r\n")
        self.assertIn(b"Content-Length: 100", head)
        self.assertEqual(len(body), 10)
        self.inject({"kind": "truncate"})
        with self.assertRaises(http.client.IncompleteRead):
            self.update({"TaskId": SCHEDULED_ID, "Region": "cn-shanghai"})

    def test_fault_headers_only(self):
        self.inject({"kind": "headers_only"})
        received, _ = self.raw_exchange()
        head, separator, body = received.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200"))
        self.assertIn(b"Content-Length: 50", head)
        self.assertEqual((separator, body), (b"\r\n\r\n", b""))

    def test_fault_big(self):
        size = 3 * 1024 * 1024 + 17
        self.inject({"kind": "big", "bytes": size})
        resp = self.update({"TaskId": SCHEDULED_ID, "Region": "cn-shanghai"})
        self.assertEqual((resp.status, len(resp.raw)), (200, size))
        self.assertEqual(set(resp.data), {"RequestId", "Pad"})

    def test_fault_endless(self):
        self.inject({"kind": "endless"})
        sock = self.emu.raw_socket()
        try:
            sock.sendall(("GET /?x HTTP/1.1\r\nHost: %s\r\n\r\n" % self.emu.host_header()).encode())
            received, reads = b"", 0
            deadline = time.monotonic() + 3
            while received.count(b"0,") < 3 and time.monotonic() < deadline:
                received += sock.recv(4096)
                reads += 1
        finally:
            sock.close()
        self.assertIn(b"Transfer-Encoding: chunked", received)
        self.assertGreaterEqual(received.count(b"0,"), 3)
        self.assertEqual(self.emu.control("GET", "health"), (200, {"ok": True}))
        # The stream notices the closed socket within a couple of 100 ms ticks, then logs.
        self.assertEqual(self.last_logged_fault(wait_s=3), "endless")


# ---------------------------------------------------------------------------------------------
# HTTPS with the built-in demo key.
# ---------------------------------------------------------------------------------------------


@unittest.skipUnless(shutil.which("openssl"), "needs the openssl command")
class HttpsTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cert, key = os.path.join(cls.tmp.name, "cert.pem"), os.path.join(cls.tmp.name, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True)
        context = ssl.create_default_context(cafile=cert)
        cls.emu = EmulatorProcess("--tls-cert", cert, "--tls-key", key, "--seed", str(SEED),
                                  "--log", os.path.join(cls.tmp.name, "log"), tls_context=context)
        cls.client = Client(cls.emu, DEMO_ID, DEMO_SECRET)

    @classmethod
    def tearDownClass(cls):
        rc = cls.emu.stop()
        cls.tmp.cleanup()
        assert rc == 0, rc

    def test_listening_line_is_https(self):
        self.assertTrue(self.emu.line.startswith("live-emulator listening on https://127.0.0.1:"))

    def test_signed_calls_with_demo_key_over_tls(self):
        conn = self.emu.connect()
        try:
            for index, algo in enumerate(("v1", "v3") * 10):
                resp = self.client.call("UpdateLivePullToPush", {"TaskId": SCHEDULED_ID, "Region": "cn-shanghai",
                                                                 "RepeatNumber": str(index)}, algo=algo, conn=conn)
                self.assertEqual(resp.status, 200, resp.raw)
        finally:
            conn.close()
        described = self.client.call("DescribeLivePullToPush", {"TaskId": SCHEDULED_ID, "Region": "cn-shanghai"})
        self.assertEqual(described.data["TaskInfo"]["RepeatNumber"], 19)
        other = Client(self.emu, KEY_ID, KEY_SECRET)
        resp = other.call("DescribeLivePullToPush", {"TaskId": SCHEDULED_ID, "Region": "cn-shanghai"})
        self.assertEqual(resp.data["Code"], "InvalidAccessKeyId.NotFound")

    def test_reset_fault_over_tls(self):
        self.emu.control("POST", "faults", {"faults": [{"kind": "reset"}]})
        with self.assertRaises((ConnectionResetError, http.client.RemoteDisconnected, ssl.SSLError)):
            self.client.call("DescribeLivePullToPush", {"TaskId": SCHEDULED_ID, "Region": "cn-shanghai"})
        self.assertEqual(self.emu.control("GET", "health"), (200, {"ok": True}))


# ---------------------------------------------------------------------------------------------
# Command line rules.
# ---------------------------------------------------------------------------------------------


class CommandLineTests(unittest.TestCase):
    def run_briefly(self, *args):
        return subprocess.run([sys.executable, str(EMULATOR), *args], capture_output=True, text=True, timeout=10)

    def test_non_loopback_host_is_refused(self):
        for host in ("0.0.0.0", "192.168.1.10", "8.8.8.8", "example.com", "::"):
            with self.subTest(host=host):
                result = self.run_briefly("--host", host, "--port", "0")
                self.assertEqual(result.returncode, 2)
                self.assertEqual(result.stdout, "")
                self.assertIn("loopback", result.stderr)

    def test_loopback_hosts_are_accepted(self):
        hosts = ["127.0.0.1", "127.0.0.2", "localhost"]
        if socket.has_ipv6:
            try:
                with socket.socket(socket.AF_INET6) as probe:
                    probe.bind(("::1", 0))
                hosts.append("::1")
            except OSError:
                pass
        for host in hosts:
            with self.subTest(host=host):
                emu = EmulatorProcess("--host", host)
                try:
                    self.assertEqual(emu.control("GET", "health"), (200, {"ok": True}))
                    expected = {"localhost": "127.0.0.1", "::1": "[::1]"}.get(host, host)
                    self.assertTrue(emu.line.startswith("live-emulator listening on http://%s:" % expected))
                    # The default (no --access-key) is the demo key.
                    resp = Client(emu, DEMO_ID, DEMO_SECRET).call("DescribeLivePullToPushList",
                                                                  {"Region": "cn-shanghai"})
                    self.assertEqual((resp.status, resp.data["Total"]), (200, 0))
                finally:
                    self.assertEqual(emu.stop(signal.SIGINT), 0)

    def test_qps_flag_and_default_log_on_stderr(self):
        emu = EmulatorProcess("--qps", "1", "--access-key", "a:b", "--access-key", "c:d:tok")
        try:
            client = Client(emu, "a", "b")
            statuses = [client.call("DescribeLivePullToPushList", {"Region": "cn-beijing"}).status
                        for _ in range(2)]
            self.assertEqual(statuses, [200, 400])
            emu.control("POST", "config", {"qps": 5})
            emu.control("POST", "reset")  # restores the --qps value and empties the windows
            self.assertEqual(emu.control("GET", "config"), (200, {"qps": 1}))
            resp = Client(emu, "c", "d", "tok").call("DescribeLivePullToPushList", {"Region": "cn-beijing"})
            self.assertEqual(resp.status, 200, resp.raw)
        finally:
            self.assertEqual(emu.stop(), 0)
        lines = [json.loads(line) for line in emu.stderr().splitlines()]
        self.assertEqual([line["status"] for line in lines], [200, 400, 200])
        self.assertEqual(lines[1]["code"], "Throttling.User")

    def test_bad_arguments_exit_2(self):
        self.assertEqual(self.run_briefly("--access-key", "no-secret").returncode, 2)
        self.assertEqual(self.run_briefly("--seed", "/nonexistent/seed.json").returncode, 2)
        self.assertEqual(self.run_briefly("--tls-cert", "/tmp/only-cert.pem").returncode, 2)


if __name__ == "__main__":
    unittest.main()
