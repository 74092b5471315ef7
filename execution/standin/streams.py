"""Binance's market streams for the stand-in: kline events over a websocket, as ccxt.pro reads them.

Copied behaviour (Binance spot "WebSocket Streams"):

- a client opens a websocket on `/ws` or `/ws/<anything>` and subscribes with
  `{"method": "SUBSCRIBE", "params": ["btcusdt@kline_1m"], "id": 1}`; the answer is
  `{"result": null, "id": 1}`. `UNSUBSCRIBE` and `LIST_SUBSCRIPTIONS` work the same way;
  anything else gets `{"error": {"code": 2, "msg": "Invalid request: ..."}, "id": ...}`;
- a subscribed kline stream gets `{"e": "kline", "E": event time, "s": "BTCUSDT", "k": {...}}`
  events: when the clock passes a candle's close, that candle with `"x": true`, then the candle
  forming with `"x": false`. The stand-in's clock moving is what makes events, so a test that
  steps the clock steps the stream.

Simplification: no update is pushed while a candle forms (Binance sends one every second or
two); the forming candle shows its final values, as the klines endpoint does.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import WSMsgType, web

from .exchange_info import fmt
from .market_data import INTERVAL_MS, Bar, CandleTape
from .market_trades import MarketTrades, trade_events


class KlineStreams:
    """The websocket connections of one stand-in and what each subscribed to."""

    def __init__(self, tape: CandleTape, market_id: str, trades: MarketTrades | None = None) -> None:
        self._tape = tape
        self._trades = trades                       # `<symbol>@trade` / `@aggTrade` events (market_trades)
        self._market_id = market_id                 # "BTCUSDT"
        self._connections: dict[web.WebSocketResponse, set[str]] = {}
        self.subscribe_messages: list[dict[str, Any]] = []
        self._sending: set[asyncio.Task[None]] = set()    # held: the loop keeps only weak references

    @property
    def connections(self) -> int:
        return len(self._connections)

    @property
    def subscriptions(self) -> int:
        """Streams subscribed to, over all connections: what a test waits for before moving the
        clock, since an event pushed before the SUBSCRIBE arrives reaches nobody."""
        return sum(len(streams) for streams in self._connections.values())

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        streams: set[str] = set()
        self._connections[ws] = streams
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                await ws.send_str(json.dumps(self._answer(json.loads(message.data), streams)))
        finally:
            self._connections.pop(ws, None)
        return ws

    def _answer(self, request: dict[str, Any], streams: set[str]) -> dict[str, Any]:
        self.subscribe_messages.append(request)
        method, params, request_id = request.get("method"), request.get("params") or [], request.get("id")
        if method == "SUBSCRIBE":
            streams.update(params)
            return {"result": None, "id": request_id}
        if method == "UNSUBSCRIBE":
            streams.difference_update(params)
            return {"result": None, "id": request_id}
        if method == "LIST_SUBSCRIPTIONS":
            return {"result": sorted(streams), "id": request_id}
        return {"error": {"code": 2, "msg": f"Invalid request: unknown method {method!r}"}, "id": request_id}

    def clock_moved(self, before_ms: int, now_ms: int) -> None:
        """Push the events of every subscribed kline stream for the clock moving to `now_ms`."""
        for ws, streams in list(self._connections.items()):
            for stream in streams:
                trades = [] if self._trades is None else trade_events(self._trades, self._market_id, stream,
                                                                      before_ms, now_ms)
                for event in self._kline_events(stream, before_ms, now_ms) + trades:
                    task = asyncio.ensure_future(_send(ws, event))
                    self._sending.add(task)
                    task.add_done_callback(self._sending.discard)

    def _kline_events(self, stream: str, before_ms: int, now_ms: int) -> list[dict[str, Any]]:
        market, _, kind = stream.partition("@")
        interval = kind.removeprefix("kline_")
        interval_ms = INTERVAL_MS.get(interval)
        if market != self._market_id.lower() or not kind.startswith("kline_") or interval_ms is None:
            return []
        bars, _ = self._tape.bars_for(interval, now_ms)
        closed = [b for b in bars if before_ms < b.ts_ms + interval_ms <= now_ms]
        events = [self._event(b, interval, interval_ms, closed=True, event_ms=b.ts_ms + interval_ms) for b in closed]
        if bars and bars[-1].ts_ms + interval_ms > now_ms:
            events.append(self._event(bars[-1], interval, interval_ms, closed=False, event_ms=now_ms))
        return events

    def _event(self, bar: Bar, interval: str, interval_ms: int, *, closed: bool, event_ms: int) -> dict[str, Any]:
        quote_volume = bar.volume * bar.close
        return {"e": "kline", "E": event_ms, "s": self._market_id, "k": {
            "t": bar.ts_ms, "T": bar.ts_ms + interval_ms - 1, "s": self._market_id, "i": interval,
            "f": 100, "L": 200, "o": fmt(bar.open), "c": fmt(bar.close), "h": fmt(bar.high), "l": fmt(bar.low),
            "v": fmt(bar.volume), "n": max(int(bar.volume * 10), 1), "x": closed, "q": fmt(quote_volume),
            "V": fmt(bar.volume / 2), "Q": fmt(quote_volume / 2), "B": "0"}}

    async def drop_all(self) -> None:
        """Close every connection, as an exchange restarting its stream servers does."""
        for ws in list(self._connections):
            await ws.close()


async def _send(ws: web.WebSocketResponse, event: dict[str, Any]) -> None:
    if not ws.closed:
        try:
            await ws.send_str(json.dumps(event, separators=(",", ":")))
        except ConnectionError:
            pass                            # the client went away; its handler cleans up
