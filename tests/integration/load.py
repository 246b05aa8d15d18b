"""A load generator for the tests that need traffic while an endpoint changes (autoscaling, rollouts)."""

from __future__ import annotations

import threading

from tests.conftest import client


class Load:
    """`clients` threads invoking the endpoint, each pausing `pause_s` between calls, counting answers and
    failures."""

    def __init__(self, url: str, endpoint: str, clients: int, pause_s: float) -> None:
        self.url, self.endpoint, self.pause_s = url, endpoint, pause_s
        self.answers = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(clients)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _run(self) -> None:
        runtime = client(self.url, "sagemaker-runtime")
        while not self._stop.is_set():
            try:
                runtime.invoke_endpoint(EndpointName=self.endpoint, Body=b"1", ContentType="text/csv")["Body"].read()
                self.answers += 1
            except Exception as error:  # every failure counts against the test
                self.failures.append(repr(error))
            self._stop.wait(self.pause_s)
