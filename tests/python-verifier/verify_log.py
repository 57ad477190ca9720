#!/usr/bin/env python3
"""Independent verifier of a grants platform event log, written from the .proto files alone.

It compiles `grants/eventlog/v1/*.proto` with grpcio-tools, reads a service's whole log over the read-only
`EventLogService`, and recomputes the hash chain exactly as `event_record.proto` describes:

    hash(n) = SHA-256(prev_hash(n) || record_bytes(n)),  prev_hash(0) = 32 zero bytes

checking for every envelope that the record decodes, that its position is the next one, that its prev_hash
is the previous envelope's hash, and that the stored hash matches. It prints one JSON object and exits with
0 (verified), 1 (tampered) or 2 (could not check), the same codes as the `grants verify` command.

Usage: verify_log.py --address 127.0.0.1:50051 [--token JWT] [--proto-root DIR]
                     [--tls-ca CA.pem [--tls-cert CLIENT.pem --tls-key CLIENT.key]]

With --tls-ca it connects over TLS, trusting only that CA for the service's certificate; a service that
requires client certificates (mutual TLS) is shown --tls-cert with --tls-key. The address's host is the
name checked against the service's certificate (localhost or 127.0.0.1 for development certificates).
"""

import argparse
import hashlib
import importlib
import json
import os
import sys
import tempfile

VERIFIED, TAMPERED, COULD_NOT_CHECK = 0, 1, 2


def compile_protos(proto_root, out_dir):
    from grpc_tools import protoc
    import grpc_tools

    well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    files = ["grants/eventlog/v1/event_record.proto", "grants/eventlog/v1/log_service.proto"]
    status = protoc.main(
        ["protoc", f"-I{proto_root}", f"-I{well_known}", f"--python_out={out_dir}", f"--grpc_python_out={out_dir}"]
        + files
    )
    if status != 0:
        raise RuntimeError(f"protoc failed with status {status}")
    sys.path.insert(0, out_dir)
    records = importlib.import_module("grants.eventlog.v1.event_record_pb2")
    service = importlib.import_module("grants.eventlog.v1.log_service_pb2")
    stubs = importlib.import_module("grants.eventlog.v1.log_service_pb2_grpc")
    return records, service, stubs


def open_channel(address, tls, options):
    """A channel to `address`: over TLS when `tls` (ca, cert, key file paths) names a CA."""
    import grpc

    ca, cert, key = tls
    if not ca:
        return grpc.insecure_channel(address, options=options)

    def read(path):
        with open(path, "rb") as file:
            return file.read()

    credentials = grpc.ssl_channel_credentials(
        root_certificates=read(ca),
        private_key=read(key) if key else None,
        certificate_chain=read(cert) if cert else None,
    )
    return grpc.secure_channel(address, credentials, options=options)


def verify(address, token, proto_root, tls=(None, None, None)):

    with tempfile.TemporaryDirectory() as out_dir:
        records, service, stubs = compile_protos(proto_root, out_dir)
        metadata = [("authorization", f"Bearer {token}")] if token else []
        options = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]
        with open_channel(address, tls, options) as channel:
            stub = stubs.EventLogServiceStub(channel)
            head = stub.GetHead(service.GetHeadRequest(), metadata=metadata, timeout=30)
            prev_hash = bytes(32)
            position = 0
            last_hash = None
            for batch in stub.ReadAll(service.ReadAllRequest(from_position=0), metadata=metadata):
                for envelope in batch.events:
                    mismatch = check(records, envelope, position, prev_hash)
                    if mismatch:
                        return TAMPERED, report(head, position, last_hash, position, mismatch)
                    prev_hash = envelope.hash
                    last_hash = envelope.hash
                    position += 1
            if position != head.next_position:
                reason = f"log ended at {position} events but its head says {head.next_position}"
                return TAMPERED, report(head, position, last_hash, position, reason)
            if head.next_position and head.head_hash != last_hash:
                reason = "head hash differs from the last event's hash"
                return TAMPERED, report(head, position, last_hash, position - 1, reason)
            return VERIFIED, report(head, position, last_hash, None, None)


def check(records, envelope, position, prev_hash):
    """The reason this envelope breaks the chain at `position`, or None."""
    if len(envelope.hash) != 32:
        return "envelope hash is not 32 bytes"
    recomputed = hashlib.sha256(prev_hash + envelope.record).digest()
    if recomputed != envelope.hash:
        return f"stored hash {envelope.hash.hex()} differs from recomputed {recomputed.hex()}"
    record = records.EventRecord()
    try:
        record.ParseFromString(envelope.record)
    except Exception as error:  # the protobuf runtime's DecodeError
        return f"record does not decode: {error}"
    if record.position != position:
        return f"record says position {record.position}, expected {position}"
    if record.prev_hash != prev_hash:
        return "prev_hash differs from the previous event's hash"
    # The canonical encoding is deterministic: re-encoding must give the very same bytes.
    if record.SerializeToString(deterministic=True) != envelope.record:
        return "record bytes are not in canonical encoding"
    return None


def report(head, events, last_hash, mismatch_position, reason):
    return {
        "service": head.service,
        "verified_events": events,
        "head_position": events - 1 if events else None,
        "head_hash": last_hash.hex() if last_hash else None,
        "first_mismatch": mismatch_position,
        "reason": reason,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", required=True, help="host:port of a service's gRPC endpoint")
    parser.add_argument("--token", default=os.environ.get("GRANTS_TOKEN"), help="bearer token (or GRANTS_TOKEN)")
    default_root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto")
    parser.add_argument("--proto-root", default=default_root, help="folder holding grants/eventlog/v1/*.proto")
    parser.add_argument("--tls-ca", default=os.environ.get("GRANTS_TLS_CA"), help="PEM CA: connect over TLS")
    parser.add_argument("--tls-cert", default=os.environ.get("GRANTS_TLS_CERT"), help="PEM client certificate")
    parser.add_argument("--tls-key", default=os.environ.get("GRANTS_TLS_KEY"), help="PEM key of --tls-cert")
    args = parser.parse_args()
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together: a client certificate is shown with its key")
    if args.tls_cert and not args.tls_ca:
        parser.error("--tls-cert needs --tls-ca: a client certificate is shown only over TLS")
    try:
        tls = (args.tls_ca, args.tls_cert, args.tls_key)
        code, result = verify(args.address, args.token, os.path.abspath(args.proto_root), tls)
    except Exception as error:
        print(json.dumps({"error": f"could not check: {error}"}))
        return COULD_NOT_CHECK
    print(json.dumps(result))
    return code


if __name__ == "__main__":
    sys.exit(main())
