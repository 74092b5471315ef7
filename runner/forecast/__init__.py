"""Prediction models for bots: the HTTP contract, the client with its retries and circuit
breaker, recorded forecasts for deterministic backtests, and the reference model server.

`ModelConfig` (config.py) is what a bot's `model:` section validates to; `ModelClient`
(model_client.py) is built from it; `ReplayModel` and `write_forecasts` (replay.py) read and
write the forecast file; `serve_model` and `build_model_app` (model_server.py) serve the
reference autoregression (reference_model.py). `triggers.py` decides when a bot asks.
"""
