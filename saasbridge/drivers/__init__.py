"""The drivers: what drives the two connectors as AWS does. `lambda_invoker` reaches a function
(in process, the local invoke endpoint, or deployed), `appflow` plays Amazon AppFlow's part of the
custom-connector protocol, `athena` plays Athena's part of the federation protocol.

Layer: the drivers import the core and the connectors' public handlers only (never `local`,
`cli` or `sagemaker`); the local tools, the SageMaker side, the bench and the tour build on them.
"""
