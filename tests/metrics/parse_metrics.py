"""Parses a service's /metrics answer (OpenMetrics text, read from standard input) with the reference
Prometheus client's parser and prints every sample as one JSON line: {"name", "labels", "value", "type"}.
A text the parser refuses ends it with an error and exit code 1."""

import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families


def main() -> int:
    text = sys.stdin.read()
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                print(json.dumps({
                    "family": family.name,
                    "type": family.type,
                    "name": sample.name,
                    "labels": sample.labels,
                    "value": sample.value,
                }))
    except ValueError as error:
        print(f"not valid OpenMetrics text: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
