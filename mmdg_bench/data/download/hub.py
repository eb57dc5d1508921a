"""Files of the Hugging Face dataset `hdong51/Human-Animal-Cartoon` (HAC zips and the EPIC audio zip).

huggingface_hub does the transfer: it resolves the file (HEAD /datasets/<repo>/resolve/<revision>/<file>),
follows the Hub's redirects (or Xet storage), retries a dropped connection within the call and
skips a file already in `local_dir` with the same ETag. The endpoint comes from the argument, else
HF_ENDPOINT, else huggingface.co.
"""

from pathlib import Path

from mmdg_bench.data.download.progress import TransferProgress
from mmdg_bench.errors import UserError

HUB_REPO = "hdong51/Human-Animal-Cartoon"


def hub_download(filename: str, folder: Path, *, endpoint: str | None, progress: TransferProgress) -> Path:
    """Download `filename` of the HAC dataset repo into `folder` and return its path."""
    import httpx2
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"{filename} of the Hugging Face dataset {HUB_REPO} at {endpoint or 'huggingface.co'}"
    try:
        path = hf_hub_download(repo_id=HUB_REPO, repo_type="dataset", filename=filename, local_dir=folder,
                               endpoint=endpoint, tqdm_class=progress.hub_bar_class(filename))
    except (RepositoryNotFoundError, RevisionNotFoundError, RemoteEntryNotFoundError):
        raise UserError(f"{where} was not found; check HF_ENDPOINT, or whether the dataset moved") from None
    except LocalEntryNotFoundError:
        raise UserError(f"could not reach {where}; check the connection (and HF_ENDPOINT), then run the "
                        f"same command again") from None
    except (HfHubHTTPError, httpx2.HTTPError, OSError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"downloading {where} failed ({first_line}); run the same command again") from None
    return Path(path)
