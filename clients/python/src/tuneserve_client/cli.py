"""`tuneserve`: the command line of the tuneserve client.

tuneserve generate "What is the capital of France?" --chat
tuneserve generate "Once upon a time" --max-new-tokens 50 --temperature 0.8 --seed 1
tuneserve tokenize "Hello world"
tuneserve model-info
tuneserve health
tuneserve adapters list
tuneserve adapters import ./my-peft-adapter --name sentiment
tuneserve adapters rollback sentiment
tuneserve adapters split sentiment 3=90 4=10
tuneserve adapters promote sentiment 4
tuneserve adapters experiment sentiment
tuneserve feedback REQUEST_ID --label positive
tuneserve train submit data.jsonl --name sentiment
tuneserve classify sentiment "A wonderful film."
tuneserve generate "Paris" --instruction "Name the country." --demo Rome Italy --demo Berlin Germany
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from google.protobuf.json_format import MessageToJson
from tuneserve.v1 import adapters_pb2, common_pb2

from tuneserve_client import train_cli
from tuneserve_client.cli_connection import add_connection_args, client_options
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
    parser.add_argument("--frequency-penalty", type=float, help="OpenAI's, -2 to 2: lowers a token's logit per time it was generated")
    parser.add_argument("--presence-penalty", type=float, help="OpenAI's, -2 to 2: lowers a token's logit once it was generated")
    parser.add_argument(
        "--stop-token-id", type=int, action="append", default=[], dest="stop_token_ids", help="end at this token id too (repeatable)"
    )
    parser.add_argument(
        "--include-stop-str",
        action="store_true",
        default=None,
        dest="include_stop_str_in_output",
        help="keep the stop string that ended the text",
    )
    parser.add_argument("--ignore-eos", action="store_true", default=None, help="generate max-new-tokens: end tokens are never sampled")
    parser.add_argument(
        "--logit-bias",
        type=_token_bias,
        action="append",
        default=[],
        metavar="TOKEN_ID=BIAS",
        help="add BIAS (-100 to 100) to a token's logit (repeatable)",
    )
    parser.add_argument("--stop", action="append", default=[], help="stop string (repeatable)")
    parser.add_argument("--time-limit-ms", type=int)
    parser.add_argument("--no-stream", action="store_true", help="wait for the whole answer instead of streaming it")
    parser.add_argument("--json", action="store_true", help="print the whole response message as JSON")
    few = parser.add_argument_group("few-shot", "with --demo or --instruction the prompt is the query of a few-shot prompt")
    few.add_argument("--instruction", default="")
    few.add_argument("--demo", nargs=2, action="append", default=[], metavar=("INPUT", "OUTPUT"), help="a demonstration (repeatable)")
    few.add_argument(
        "--selection", choices=["first", "random", "similar"], default="first", help="which demonstrations to keep when not all fit"
    )
    few.add_argument("--order", choices=["as_given", "most_similar_last"], default="as_given")


def _token_bias(given: str) -> tuple[int, float]:
    """An argparse type: TOKEN_ID=BIAS."""
    token, _, bias = given.partition("=")
    try:
        if not re.fullmatch(r"[0-9]{1,9}", token):
            raise ValueError(token)
        return int(token), float(bias)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes TOKEN_ID=BIAS, such as 1234=-100; got {given!r}") from None


def _generation_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    # the GenerationParameters the command has a flag for, a value each; stop and logit_bias repeat
    names = [f.name for f in common_pb2.GenerationParameters.DESCRIPTOR.fields if f.name not in ("stop", "logit_bias")]
    kwargs: dict[str, Any] = {name: getattr(args, name) for name in names if name in vars(args)}
    kwargs["stop"] = args.stop
    if args.logit_bias:
        kwargs["logit_bias"] = dict(args.logit_bias)
    kwargs["adapter"] = args.adapter
    if args.demo or args.instruction:
        demos = [tuple(d) for d in args.demo]
        kwargs["few_shot"] = {
            "query": args.prompt,
            "demos": demos,
            "instruction": args.instruction,
            "selection": args.selection,
            "order": args.order,
        }
    elif args.chat or args.system:
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


def cmd_classify(client: Client, args: argparse.Namespace) -> int:
    if args.json:
        _print_json(client.classify(args.task, args.text))
        return 0
    results = client.classify_batch(args.task, [args.text, *args.more]) if args.more else [client.classify(args.task, args.text)]
    for result in results:
        scores = ", ".join(f"{s.label} {s.probability:.3f}" for s in result.scores)
        backing = common_pb2.TaskBacking.Name(result.prompt_info.backing).removeprefix("TASK_BACKING_").lower()
        via = f"adapter {result.adapter}" if result.adapter else backing
        print(f"{result.label}\t({scores}; {via})")
    return 0


def cmd_run(client: Client, args: argparse.Namespace) -> int:
    params = {name: getattr(args, name) for name in ("max_new_tokens", "temperature", "seed")}
    if args.no_stream:
        print(client.run_task(args.task, args.text, **params).text)
        return 0
    for chunk in client.run_task_stream(args.task, args.text, **params):
        sys.stdout.write(chunk.text)
        sys.stdout.flush()
    sys.stdout.write("\n")
    return 0


def cmd_tasks(client: Client, args: argparse.Namespace) -> int:
    if args.action == "show":
        _print_json(client.get_task(args.name))
        return 0
    listing = client.list_tasks()
    for task in listing.tasks:
        backing = common_pb2.TaskBacking.Name(task.backing).removeprefix("TASK_BACKING_").lower()
        labels = f" [{', '.join(task.labels)}]" if task.labels else ""
        print(f"{task.name:<24} {task.kind:<15} {backing:<15} {task.adapter or '-':<24} {task.source}{labels}")
    for problem in listing.problems:
        print(f"problem: {problem.source}: {problem.error}", file=sys.stderr)
    return 0


def _print_adapters(adapters: list[adapters_pb2.AdapterInfo]) -> None:
    print(f"{'adapter':<24} {'version':>7} {'state':<8} {'tier':<6} {'rank':>4} {'reqs':>4}  notes")
    for info in adapters:
        for v in info.versions:
            state = adapters_pb2.AdapterState.Name(v.state).removeprefix("ADAPTER_STATE_").lower()
            tier = adapters_pb2.AdapterTier.Name(v.tier).removeprefix("ADAPTER_TIER_").lower()
            notes = [n for n, on in (("current", v.version == info.current_version), ("serving", v.version == info.serving_version)) if on]
            if v.version in info.rollout_weights:
                notes.append(f"{info.rollout_weights[v.version]}% of traffic")
            if v.last_error:
                notes.append(f"refused ({v.refusal_reason}): {v.last_error}")
            print(f"{info.name:<24} {v.version:>7} {state:<8} {tier:<6} {v.rank or '':>4} {v.active_requests:>4}  {', '.join(notes)}")


def _print_experiment(experiment: adapters_pb2.Experiment) -> None:
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(experiment.since_unix_s))
    print(f"{experiment.name}: {experiment.rollout or 'no rollout'} (since {started}; serving {experiment.serving_version})")
    print(
        f"{'version':>7} {'role':<8} {'share':>5} {'requests':>8} {'errors':>6} {'p50 ms':>7} {'labelled':>8}  "
        "accuracy (95% CI)      vs control"
    )
    for arm in experiment.arms:
        accuracy = f"{arm.accuracy:6.1%} ({arm.accuracy_low:.1%}-{arm.accuracy_high:.1%})" if arm.labelled else "-"
        versus = (
            f"p={arm.accuracy_p_value:.3g}{' significant' if arm.significant else ''}" if arm.role not in ("control", "serving") else ""
        )
        print(
            f"{arm.version:>7} {arm.role:<8} {str(arm.percent) + '%' if arm.percent else '':>5} {arm.requests:>8} {arm.errors:>6} "
            f"{arm.latency_p50_ms:>7.0f} {arm.labelled:>8}  {accuracy:<22} {versus}"
        )
        extras = []
        if arm.answers:
            extras.append(
                "answers " + ", ".join(f"{answer!r} {count}" for answer, count in sorted(arm.answers.items(), key=lambda kv: -kv[1])[:5])
            )
        if arm.thumbs_up or arm.thumbs_down:
            extras.append(f"thumbs {arm.thumbs_up} up {arm.thumbs_down} down")
        if arm.ratings:
            extras.append(f"mean rating {arm.mean_rating:.2f} of {arm.ratings}")
        if arm.role == "shadow":
            extras.append(f"agrees with the served answer on {arm.agreement:.1%} of {arm.compared} (word F1 {arm.mean_token_f1:.2f})")
        for extra in extras:
            print(f"{'':>17}{extra}")
    for event in experiment.events:
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(event.time_unix_s))} {event.kind}: {event.detail}")


def cmd_feedback(client: Client, args: argparse.Namespace) -> int:
    thumb = "up" if args.up else "down" if args.down else None
    reply = client.feedback(args.request_id, label=args.label, rating=args.rating, thumb=thumb)
    verdict = "" if not reply.HasField("correct") else (" (correct)" if reply.correct else " (incorrect)")
    arm = f" (arm {reply.rollout_arm})" if reply.rollout_arm else ""
    print(f"recorded feedback on {reply.request_id}, answered by {reply.adapter}{arm}{verdict}")
    return 0


def cmd_adapters(client: Client, args: argparse.Namespace) -> int:
    action = args.action
    if action == "list":
        _print_adapters(client.list_adapters())
    elif action == "show":
        _print_adapters([client.get_adapter(args.name)])
    elif action == "load":
        _print_adapters([client.load_adapter(args.adapter)])
    elif action == "unload":
        _print_adapters([client.unload_adapter(args.adapter)])
    elif action == "set-current":
        _print_adapters([client.set_current_version(args.name, args.version)])
    elif action == "rollback":
        info = client.get_adapter(args.name)
        older = [v.version for v in info.versions if v.version < info.current_version and v.state != adapters_pb2.ADAPTER_STATE_REFUSED]
        if not older:
            print(f"error: {args.name} has no version before {info.current_version} to roll back to", file=sys.stderr)
            return 1
        _print_adapters([client.set_current_version(args.name, max(older))])
    elif action == "split":
        if args.clear:
            _print_adapters([client.clear_rollout(args.name)])
            return 0
        weights = {}
        for arm in args.weights:
            version, _, weight = arm.partition("=")
            if not (re.fullmatch(r"[0-9]{1,9}", version) and re.fullmatch(r"[0-9]{1,3}", weight)):
                print(f"error: {arm!r} is not VERSION=PERCENT", file=sys.stderr)
                return 2
            weights[int(version)] = int(weight)
        guard = {"min_samples": args.min_samples} if args.guard else None
        _print_adapters([client.set_rollout(args.name, weights, shadow=args.shadow, guard=guard)])
    elif action == "shadow":
        info = client.get_adapter(args.name)  # the split in force stays
        _print_adapters([client.set_rollout(args.name, dict(info.rollout_weights), shadow=args.version, guard=info.rollout_guarded)])
    elif action == "experiment":
        experiment = client.get_experiment(args.name)
        if args.json:
            _print_json(experiment)
        else:
            _print_experiment(experiment)
    elif action == "promote":
        client.set_current_version(args.name, args.version)
        _print_adapters([client.clear_rollout(args.name)])
    elif action == "import":
        reply = client.import_adapter(args.directory, args.name, make_current=not args.no_current, source=args.source)
        print(
            f"imported {reply.name}@{reply.version} (rank {reply.rank}, "
            f"{', '.join(reply.target_modules)}) for base {reply.base_fingerprint}"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tuneserve", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--server", default=os.environ.get("TUNESERVE_SERVER", DEFAULT_TARGET), help="host:port of the server (env TUNESERVE_SERVER)"
    )
    add_connection_args(parser)
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="generate text (streams by default)")
    _generation_args(generate)
    generate.set_defaults(run=cmd_generate)

    tokenize = commands.add_parser("tokenize", help="show how the server tokenizes text")
    tokenize.add_argument("text")
    tokenize.add_argument("--chat", action="store_true", help="tokenize as a user chat message")
    tokenize.add_argument("--json", action="store_true")
    tokenize.set_defaults(run=cmd_tokenize)

    classify = commands.add_parser("classify", help="label text with a classification task")
    classify.add_argument("task")
    classify.add_argument("text")
    classify.add_argument("more", nargs="*", help="more texts, classified together in one call")
    classify.add_argument("--json", action="store_true")
    classify.set_defaults(run=cmd_classify)

    run = commands.add_parser("run", help="run a generation task on an input")
    run.add_argument("task")
    run.add_argument("text")
    run.add_argument("--max-new-tokens", type=int)
    run.add_argument("--temperature", type=float)
    run.add_argument("--seed", type=int)
    run.add_argument("--no-stream", action="store_true")
    run.set_defaults(run=cmd_run)

    tasks = commands.add_parser("tasks", help="list tasks or show one")
    task_actions = tasks.add_subparsers(dest="action", required=True)
    task_actions.add_parser("list", help="every task with its backing")
    task_actions.add_parser("show", help="one task").add_argument("name")
    tasks.set_defaults(run=cmd_tasks)

    info = commands.add_parser("model-info", help="describe the base model and limits")
    info.set_defaults(run=cmd_model_info)

    adapters = commands.add_parser("adapters", help="list, import, load, unload and roll back LoRA adapters")
    actions = adapters.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="every adapter with its versions, state and tier")
    actions.add_parser("show", help="one adapter").add_argument("name")
    actions.add_parser("load", help="load NAME or NAME@VERSION now").add_argument("adapter")
    actions.add_parser("unload", help="free NAME or NAME@VERSION from memory").add_argument("adapter")
    set_current = actions.add_parser("set-current", help="make VERSION the current version of NAME")
    set_current.add_argument("name")
    set_current.add_argument("version", type=int)
    actions.add_parser("rollback", help="make the version before the current one current again").add_argument("name")
    split = actions.add_parser("split", help="split NAME's traffic between versions: split NAME 3=90 4=10 (--clear ends it)")
    split.add_argument("name")
    split.add_argument("weights", nargs="*", metavar="VERSION=PERCENT")
    split.add_argument("--clear", action="store_true", help="end the split and the shadow; traffic goes to the serving version")
    split.add_argument("--shadow", type=int, default=0, metavar="VERSION", help="also send VERSION a copy of every request")
    split.add_argument("--guard", action="store_true", help="roll the split back by itself when a canary does worse")
    split.add_argument("--min-samples", type=int, default=50, help="requests per arm before the guard judges (default 50)")
    shadow = actions.add_parser("shadow", help="send VERSION a copy of NAME's requests, answered and recorded, never returned")
    shadow.add_argument("name")
    shadow.add_argument("version", type=int)
    experiment = actions.add_parser("experiment", help="per arm of NAME's rollout: requests, latency, feedback, accuracy")
    experiment.add_argument("name")
    experiment.add_argument("--json", action="store_true")
    promote = actions.add_parser("promote", help="make VERSION current and end NAME's split")
    promote.add_argument("name")
    promote.add_argument("version", type=int)
    importer = actions.add_parser("import", help="publish a PEFT adapter directory as the next version of NAME")
    importer.add_argument("directory")
    importer.add_argument("--name", required=True)
    importer.add_argument("--no-current", action="store_true", help="publish without making it the current version")
    importer.add_argument("--source", default="", help="where the adapter came from (recorded in its manifest)")
    adapters.set_defaults(run=cmd_adapters)

    feedback = commands.add_parser("feedback", help="judge an answer by its request id: the correct label, a rating, thumbs")
    feedback.add_argument("request_id")
    feedback.add_argument("--label", help="the correct answer")
    feedback.add_argument("--rating", type=int, help="1 (bad) to 5 (good)")
    thumbs = feedback.add_mutually_exclusive_group()
    thumbs.add_argument("--up", action="store_true")
    thumbs.add_argument("--down", action="store_true")
    feedback.set_defaults(run=cmd_feedback)

    train_cli.add_parser(commands)

    health = commands.add_parser("health", help="standard gRPC health check; exit 0 when SERVING")
    health.add_argument("--service", default="")
    health.set_defaults(run=cmd_health)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Callable[[Client, argparse.Namespace], int] | None = args.run
    try:
        if run is None:
            return args.train(args)
        with Client(args.server, **client_options(args)) as client:
            return run(client, args)
    except TuneserveError as exc:
        where = f" (field {exc.field})" if exc.field else ""
        print(f"error: {exc}{where}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
