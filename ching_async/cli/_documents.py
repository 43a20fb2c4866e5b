"""``ching documents ...``: the tax documents CHING issues, and their PDFs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import BinaryIO

from .. import Client
from ._env import call, list_command, retrieve_command
from ._errors import UsageError
from ._output import Output

__all__ = ["documents_download", "documents_get", "documents_list"]

STDOUT = "-"


documents_list = list_command("documents", "documents")
documents_get = retrieve_command("documents", "document")


async def documents_download(args: argparse.Namespace, out: Output) -> int:
    destination: Path | BinaryIO
    if args.output == STDOUT:
        if out.json_mode:
            raise UsageError("--output - writes the PDF to stdout, where --json would go")
        destination = _binary(out)
        where = "stdout"
    else:
        destination = Path(args.output if args.output is not None else f"{args.id}.pdf")
        if destination.is_dir():
            raise UsageError(
                f"{destination} is a directory; name the file to write, such as "
                f"{destination / f'{args.id}.pdf'} (nothing was sent)"
            )
        if destination.exists() and not args.force:
            raise UsageError(f"{destination} exists; --force replaces it (nothing was sent)")
        where = str(destination)

    async def download(client: Client) -> int:
        return await client.documents.download_pdf(args.id, destination)

    def show(size: int) -> None:
        if out.json_mode:
            out.emit_json({"id": args.id, "path": where, "bytes": size})
        else:  # stderr: stdout may be the PDF itself
            out.notice(f"saved the PDF of {args.id} ({size} bytes) to {where}")

    return await call(out, download, show)


def _binary(out: Output) -> BinaryIO:
    """The bytes under the command's stdout."""
    out.stdout.flush()
    stdout = getattr(out.stdout, "buffer", None)
    if stdout is None:
        raise UsageError("cannot write the PDF to stdout: it takes text only (use --output FILE)")
    result: BinaryIO = stdout
    return result
