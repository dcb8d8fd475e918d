"""Sources to articles: tables (bytes to rows), the named datasets and their download, the one reader, labels, folds, the input modes."""
