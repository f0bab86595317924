"""The engine: actions, the event bus, runs and the runner, the scheduler, webhooks, secrets and trust."""
