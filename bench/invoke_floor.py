#!/usr/bin/env python3
"""The FLOOR of bench/invoke.py: the least a Lambda-compatible server can do on this machine.

One Python asyncio process, no sandbox, no auth, no store, no logs:
  - an HTTP front on --port taking the same Invoke request as Isola (POST /2015-03-31/functions/<name>/invocations,
    tenant in X-Amz-Tenant-Id), plus GET /health and GET /pids (tenant -> runtime pid, for the memory figures);
  - the Invoke response carries what Lambda clients read: X-Amz-Executed-Version and x-amzn-RequestId;
  - per tenant, on its first invoke: a Runtime API listener on a free loopback port and one
    `/usr/bin/python3 -m awslambdaric app.handler` (cwd --task-dir, PYTHONPATH --runtime-python,
    AWS_LAMBDA_RUNTIME_API=127.0.0.1:<port>); every later invoke of that tenant is queued straight to it;
  - the Runtime API: GET /2018-06-01/runtime/invocation/next (long poll), POST .../invocation/{id}/response and
    .../error, POST .../init/error.
One tenant's invokes are served one at a time by its one runtime (bench/invoke.py never sends a tenant two at once).

  python3 bench/invoke_floor.py --port 9300 --task-dir DIR_WITH_APP_PY --runtime-python runtime/python
"""
import argparse, asyncio, json, signal, subprocess, time, uuid

PYTHON = "/usr/bin/python3"
FUNCTION = "bench-fn"
ACCOUNT = "000000000000"

RT_PREFIX = "/2018-06-01/runtime"
RT_NEXT = RT_PREFIX + "/invocation/next"
RT_INVOCATION = RT_PREFIX + "/invocation/"
REASONS = {200: "OK", 202: "Accepted", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error"}


async def read_request(reader, writer):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(parts)
    else:
        body = b""
    return method, path, headers, body


def write_response(writer, status, body, headers=()):
    head = [f"HTTP/1.1 {status} {REASONS.get(status, 'OK')}", "Content-Type: application/json", f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in headers]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)


class FloorRuntime:
    """One tenant's awslambdaric process and its own Runtime API listener."""

    def __init__(self, tenant, task_dir, runtime_dir):
        self.tenant, self.task_dir, self.runtime_dir = tenant, task_dir, runtime_dir
        self.queue = asyncio.Queue()
        self.inflight = {}
        self.proc = None

    async def start(self):
        self.listener = await asyncio.start_server(self.serve, "127.0.0.1", 0)
        port = self.listener.sockets[0].getsockname()[1]
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin", "PYTHONPATH": self.runtime_dir, "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
            "_HANDLER": "app.handler", "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_LAMBDA_FUNCTION_NAME": FUNCTION, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand", "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{FUNCTION}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "floor", "LAMBDA_TASK_ROOT": self.task_dir, "LAMBDA_RUNTIME_DIR": self.runtime_dir,
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        }
        self.proc = await asyncio.create_subprocess_exec(
            PYTHON, "-m", "awslambdaric", "app.handler", cwd=self.task_dir, env=env,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    async def serve(self, reader, writer):
        try:
            while True:
                method, path, headers, body = await read_request(reader, writer)
                if method == "GET" and path == RT_NEXT:
                    request_id, payload, future = await self.queue.get()
                    self.inflight[request_id] = future
                    write_response(writer, 200, payload, (
                        ("Lambda-Runtime-Aws-Request-Id", request_id),
                        ("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 3000)),
                        ("Lambda-Runtime-Invoked-Function-Arn", f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{FUNCTION}"),
                        ("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0"),
                        ("Lambda-Runtime-Aws-Tenant-Id", self.tenant),
                    ))
                elif method == "POST" and path.startswith(RT_INVOCATION):
                    request_id, _, kind = path[len(RT_INVOCATION):].partition("/")
                    future = self.inflight.pop(request_id, None)
                    if future is None or kind not in ("response", "error"):
                        write_response(writer, 400, b'{"errorType":"InvalidRequestID","errorMessage":"Invalid request ID"}')
                    else:
                        future.set_result((kind, body))
                        write_response(writer, 202, b'{"status":"OK"}')
                elif method == "POST" and path == RT_PREFIX + "/init/error":
                    write_response(writer, 202, b'{"status":"OK"}')
                else:
                    write_response(writer, 404, b'{"errorType":"NotFound"}')
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the peer went away, or the floor is shutting down
        finally:
            writer.close()


async def floor_server(port, task_dir, runtime_dir):
    runtimes = {}
    loop = asyncio.get_running_loop()

    async def front(reader, writer):
        try:
            while True:
                method, path, headers, body = await read_request(reader, writer)
                if method == "POST" and path.endswith("/invocations"):
                    tenant = headers.get("x-amz-tenant-id", "")
                    runtime = runtimes.get(tenant)
                    if runtime is None:
                        runtime = runtimes[tenant] = FloorRuntime(tenant, task_dir, runtime_dir)
                        await runtime.start()
                    future = loop.create_future()
                    request_id = str(uuid.uuid4())
                    runtime.queue.put_nowait((request_id, body, future))
                    kind, result = await future
                    # The response headers every Lambda client reads (the aws CLI prints ExecutedVersion).
                    extra = (("X-Amz-Executed-Version", "$LATEST"), ("x-amzn-RequestId", request_id))
                    write_response(writer, 200, result, extra + ((("X-Amz-Function-Error", "Unhandled"),) if kind == "error" else ()))
                elif method == "GET" and path == "/pids":
                    write_response(writer, 200, json.dumps({t: r.proc.pid for t, r in runtimes.items() if r.proc}).encode())
                elif method == "GET" and path == "/health":
                    write_response(writer, 200, b'{"status":"ok"}')
                else:
                    write_response(writer, 404, b'{"message":"Not Found"}')
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the peer went away, or the floor is shutting down
        finally:
            writer.close()

    server = await asyncio.start_server(front, "127.0.0.1", port)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with server:
        await stop.wait()
    for runtime in runtimes.values():
        if runtime.proc and runtime.proc.returncode is None:
            runtime.proc.kill()
            await runtime.proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--task-dir", required=True, help="folder with app.py")
    ap.add_argument("--runtime-python", required=True, help="folder with awslambdaric (PYTHONPATH)")
    args = ap.parse_args()
    asyncio.run(floor_server(args.port, args.task_dir, args.runtime_python))


if __name__ == "__main__":
    main()
