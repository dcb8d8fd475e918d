"""Using a run: Classifier, the engines (torch, ONNX), explanations, Ray batch prediction."""
