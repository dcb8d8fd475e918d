"""`kornews predict RUN DATA`: predictions of a file (or stdin) into a file (or stdout), in one process or Ray's."""
import sys

from kornews.core.errors import KornewsError
from kornews.data import articles
from kornews.inference.classifier import (
    Classifier,
    locate,
    predictions_frame,
    write_predictions,
)


def predict_file(run, source, output="-", *, fmt=None, encoding=None, engine="auto", threads=None, ray=None,
                 actors=None, progress=True, min_confidence=None, explain=None, device="auto") -> int:
    """Write the predictions of `source`'s articles to `output`; returns how many were predicted. `ray`: a Ray
    address ("local" for a private instance on this machine) to predict with an actor pool there (`actors` of
    `threads` each; default: one thread each, as many as the cores)."""
    if actors is not None and not ray:
        raise KornewsError("--actors sizes a Ray actor pool: add --ray")
    if ray and device not in ("auto", "cpu"):
        raise KornewsError(f"--device {device}: Ray's actors share the cores and run on the CPU; drop --device or "
                           "--ray")
    if ray and explain:
        raise KornewsError("--explain runs in one process (gradients): drop --ray, or explain a sample")
    if ray:
        from kornews.inference.distributed import predict_dataset
        spec = locate(run)[3]  # the run's input spec, read without loading the model
        df = articles.read(source, mode=spec.mode, columns=spec.columns, labeled=False, split="test",
                           encoding=encoding).frame
        frame = predict_dataset(run, df, address=ray, engine=engine, actors=actors, threads=threads,
                                min_confidence=min_confidence,
                                log=(lambda s: print(f"kornews: {s}", file=sys.stderr)) if progress else None)
    else:
        clf = Classifier.load(run, engine=engine, threads=threads, device=device)
        if progress:
            print(f"kornews: predicting with {clf.engine.name}", file=sys.stderr)
        df = clf.read(source, split="test", encoding=encoding).frame
        frame = predictions_frame(clf, df, progress=progress, min_confidence=min_confidence, explain=explain)
    write_predictions(frame, output, fmt)
    return len(frame)
