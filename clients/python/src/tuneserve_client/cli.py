"""`tuneserve`: the command line of the tuneserve client.

    tuneserve generate "What is the capital of France?" --chat
    tuneserve generate "Once upon a time" --max-new-tokens 50 --temperature 0.8 --seed 1
    tuneserve tokenize "Hello world"
    tuneserve model-info
    tuneserve health
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from google.protobuf.json_format import MessageToJson
from tuneserve.v1 import common_pb2

from tuneserve_client.client import DEFAULT_TARGET, Client
from tuneserve_client.errors import TuneserveError


def _print_json(message: Any) -> None:
    print(MessageToJson(message, preserving_proto_field_name=True, indent=2))


def _generation_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt", help="prompt text, or the user message with --chat")
    parser.add_argument("--chat", action="store_true", help="send the prompt as a user chat message (model's chat template)")
    parser.add_argument("--system", help="system message to put before the user message (implies --chat)")
    parser.add_argument("--adapter", default="", help='adapter: "" = base model, NAME = current version, NAME@VERSION')
    parser.add_argument("--max-new-tokens", type=int)
    parser.add_argument("--min-new-tokens", type=int)
    parser.add_argument("--temperature", type=float, help="0 = greedy (default)")
    parser.add_argument("--top-p", type=float)
    parser.add_argument("--top-k", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--repetition-penalty", type=float)
    parser.add_argument("--stop", action="append", default=[], help="stop string (repeatable)")
    parser.add_argument("--time-limit-ms", type=int)
    parser.add_argument("--no-stream", action="store_true", help="wait for the whole answer instead of streaming it")
    parser.add_argument("--json", action="store_true", help="print the whole response message as JSON")


def _generation_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        name: getattr(args, name)
        for name in ("max_new_tokens", "min_new_tokens", "temperature", "top_p", "top_k", "seed", "repetition_penalty", "time_limit_ms")
    }
    kwargs["stop"] = args.stop
    kwargs["adapter"] = args.adapter
    if args.chat or args.system:
        messages = [{"role": "system", "content": args.system}] if args.system else []
        kwargs["messages"] = [*messages, {"role": "user", "content": args.prompt}]
    else:
        kwargs["prompt"] = args.prompt
    return kwargs


def cmd_generate(client: Client, args: argparse.Namespace) -> int:
    kwargs = _generation_kwargs(args)
    if args.no_stream or args.json:
        response = client.generate(**kwargs)
        if args.json:
            _print_json(response)
        else:
            print(response.text)
        return 0
    last = None
    for chunk in client.generate_stream(**kwargs):
        sys.stdout.write(chunk.text)
        sys.stdout.flush()
        last = chunk
    sys.stdout.write("\n")
    if last is not None:
        reason = common_pb2.StopReason.Name(last.stop_reason).removeprefix("STOP_REASON_").lower()
        print(
            f"[{reason}; {last.usage.prompt_tokens} prompt + {last.usage.generated_tokens} generated tokens; "
            f"first token {last.timings.time_to_first_token_ms:.0f} ms, total {last.timings.total_ms:.0f} ms]",
            file=sys.stderr,
        )
    return 0


def cmd_tokenize(client: Client, args: argparse.Namespace) -> int:
    response = client.tokenize(messages=[{"role": "user", "content": args.text}]) if args.chat else client.tokenize(args.text)
    if args.json:
        _print_json(response)
    else:
        print(f"{len(response.token_ids)} tokens")
        for token_id, token in zip(response.token_ids, response.tokens, strict=True):
            print(f"{token_id}\t{token!r}")
    return 0


def cmd_model_info(client: Client, args: argparse.Namespace) -> int:
    _print_json(client.model_info())
    return 0


def cmd_health(client: Client, args: argparse.Namespace) -> int:
    status = client.health(args.service)
    print(status)
    return 0 if status == "SERVING" else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tuneserve", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default=os.environ.get("TUNESERVE_SERVER", DEFAULT_TARGET), help="host:port of the server (env TUNESERVE_SERVER)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per call")
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="generate text (streams by default)")
    _generation_args(generate)
    generate.set_defaults(run=cmd_generate)

    tokenize = commands.add_parser("tokenize", help="show how the server tokenizes text")
    tokenize.add_argument("text")
    tokenize.add_argument("--chat", action="store_true", help="tokenize as a user chat message")
    tokenize.add_argument("--json", action="store_true")
    tokenize.set_defaults(run=cmd_tokenize)

    info = commands.add_parser("model-info", help="describe the base model and limits")
    info.set_defaults(run=cmd_model_info)

    health = commands.add_parser("health", help="standard gRPC health check; exit 0 when SERVING")
    health.add_argument("--service", default="")
    health.set_defaults(run=cmd_health)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Callable[[Client, argparse.Namespace], int] = args.run
    try:
        with Client(args.server, timeout=args.timeout) as client:
            return run(client, args)
    except TuneserveError as exc:
        where = f" (field {exc.field})" if exc.field else ""
        print(f"error: {exc}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
