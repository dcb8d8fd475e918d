"""The bar a fine-tuned encoder must clear: TF-IDF character n-grams + a linear SVM."""
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC


def tfidf_svm(ngrams=(1, 3), C=1.0):
    # character n-grams sidestep Korean morphology (particles glued to nouns) without a tokenizer
    return make_pipeline(TfidfVectorizer(analyzer="char_wb", ngram_range=ngrams, sublinear_tf=True, min_df=2),
                         LinearSVC(C=C))


def joined(inputs: dict) -> list[str]:
    """One string per article from inputs.mode_inputs (title and body separated by a newline)."""
    pairs = inputs.get("text_pair") or [None] * len(inputs["text"])
    return [a if not b else f"{a}\n{b}" for a, b in zip(inputs["text"], pairs)]
