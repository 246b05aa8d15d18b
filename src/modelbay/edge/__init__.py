"""The edge agent (`modelbay edge-agent`): a device's models served locally, deployed from SageMaker Edge Manager's
deployment plans, telemetry stored and forwarded over MQTT. It talks to the server over HTTP and MQTT only, and
imports nothing of the server side."""

from modelbay.edge.agent import Agent, AgentOptions

__all__ = ["Agent", "AgentOptions"]
