"""The server's `Watch`: a rolling window of the last articles it classified, kept as a few numbers each in fixed
arrays (memory flat however long it serves), assessed against the run's reference (`stats.monitor`) for
/v1/monitor, /metrics and the page's panel."""
import threading

import numpy as np

from kornews.stats import monitor

WINDOW = 500      # articles: a switch of source fills a good share of it within 200 articles
MIN_DRIFT = 50    # fewer articles in the window: figures, but no drift flag yet


class Watch:
    def __init__(self, reference: monitor.Reference, size: int = WINDOW, alpha: float = monitor.ALPHA):
        self.reference, self.size, self.alpha = reference, max(1, int(size)), alpha
        self.top = np.zeros(self.size, dtype=np.int16)
        self.confidence = np.zeros(self.size, dtype=np.float32)
        self.length = np.zeros(self.size, dtype=np.int32)
        self.headline = np.zeros(self.size, dtype=bool)
        self.seen = 0                 # articles ever added; the window holds the last min(seen, size)
        self.lock = threading.Lock()  # the model thread adds, the event loop's executor assesses
        self._cached = (-1, None)

    def add(self, probs: np.ndarray, lengths, headline) -> None:
        """The articles of one model call: their calibrated probabilities, characters read, headline-alone flags."""
        n = len(probs)
        if n == 0:
            return
        with self.lock:
            slots = (self.seen + np.arange(n)) % self.size
            if n > self.size:  # only the last `size` articles of a huge call stay
                slots, probs = slots[-self.size:], probs[-self.size:]
                lengths, headline = np.asarray(lengths)[-self.size:], np.asarray(headline)[-self.size:]
            self.top[slots], self.confidence[slots] = probs.argmax(1), probs.max(1)
            self.length[slots], self.headline[slots] = lengths, headline
            self.seen += n

    def assess(self) -> dict:
        """The window's figures (as `kornews monitor` gives a file's, without the embedding tests); recomputed only
        when articles arrived since the last call."""
        with self.lock:
            seen, k = self.seen, min(self.seen, self.size)
            if self._cached[0] == seen:
                return self._cached[1]
            top, conf, length, headline = (a[:k].copy() for a in (self.top, self.confidence, self.length,
                                                                  self.headline))
        out = {"window": k, "seen": seen, "reference": self.reference.source}
        if k:
            found, _ = monitor.assess(self.reference, top, conf, length, np.where(headline, "headline", "article"),
                                      alpha=self.alpha)
            out.update(estimated_accuracy=found.estimated_accuracy, interval=list(found.interval),
                       mean_confidence=found.mean_confidence, topic_mix=found.topic_mix,
                       topic_shift=found.topic_shift, p_values={"topic mix": found.topic_p,
                                                                "confidence": found.confidence_p,
                                                                "length": found.length_p},
                       drift=found.drift and k >= MIN_DRIFT, reasons=found.reasons if k >= MIN_DRIFT else [])
        self._cached = (seen, out)
        return out


def prometheus(figures: dict, counters: dict) -> str:
    """The figures in Prometheus' text format (version 0.0.4), the convention of servers people scrape."""
    lines = []

    def metric(name, kind, help_text, samples):
        lines.extend([f"# HELP kornews_{name} {help_text}", f"# TYPE kornews_{name} {kind}"])
        lines.extend(f"kornews_{name}{labels} {value:.6g}" for labels, value in samples)
    for key, help_text in (("requests", "Requests classified."), ("articles", "Articles classified."),
                           ("model_calls", "Model calls (several requests gathered into one).")):
        metric(f"{key}_total", "counter", help_text, [("", counters.get(key, 0))])
    metric("window_articles", "gauge", "Articles in the monitoring window.", [("", figures["window"])])
    if figures["window"]:
        low, high = figures["interval"]
        metric("estimated_accuracy", "gauge", "Accuracy estimated without labels over the window.",
               [("", figures["estimated_accuracy"])])
        metric("estimated_accuracy_bound", "gauge", "The estimate's 95% interval.",
               [('{bound="low"}', low), ('{bound="high"}', high)])
        metric("mean_confidence", "gauge", "Mean calibrated top probability.", [("", figures["mean_confidence"])])
        metric("topic_share", "gauge", "Share of the window predicted as each topic.",
               [(f'{{topic="{t}"}}', v) for t, v in figures["topic_mix"].items()])
        metric("topic_shift", "gauge", "Total variation distance of the topic mix from the reference's.",
               [("", figures["topic_shift"])])
        metric("drift_p_value", "gauge", "Two-sample tests against the reference (small: the news moved).",
               [(f'{{test="{t.replace(" ", "_")}"}}', p) for t, p in figures["p_values"].items()])
        metric("drift", "gauge", "1 when a test falls below its share of alpha.", [("", float(figures["drift"]))])
    return "\n".join(lines) + "\n"
