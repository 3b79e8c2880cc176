"""The SageMaker side of saasbridge: AWS sessions (`credentials`), the model log (`modellog`)."""
