"""modelbay's compilers (SageMaker Neo's role): the program a compilation job runs, `python -m modelbay.container.neo`.

originals.py loads the model a job names; trees.py compiles tree ensembles to native code (Treelite,
TL2cgen, a C compiler); onnx_export.py turns other models into ONNX optimised by ONNX Runtime;
samples.py gives the inputs verification.py compares both models on; compiler.py runs one compilation.
The compiled model is loaded by container/compiled_models.py. Like the rest of container/, the package
imports nothing of modelbay outside container/.
"""
