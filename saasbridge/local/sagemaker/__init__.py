"""A local stand-in for SageMaker hosting (`saasbridge sagemaker serve`)."""
