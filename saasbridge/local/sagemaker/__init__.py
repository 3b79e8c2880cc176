"""A local stand-in for SageMaker hosting (`saasbridge sagemaker serve`).

One loopback endpoint for `AWS_ENDPOINT_URL`: the runtime (InvokeEndpoint, InvokeEndpointAsync)
answered here by model servers, transform, training and Autopilot jobs run for real, the control
plane and S3 forwarded to the moto server.

- `standin`: `start_sagemaker_standin(moto_url)` (context manager), `inject_fault`, `clear_faults`
- `sdk_deploy`: `upload_model`, `deploy_endpoint`, `wait_for_transform_job`
- `model_archive`: `pack_model_dir`, `unpack_model` (model.tar.gz as SageMaker packs it)
- `gateway` (routing, forwarding), `invocations` (invoke calls, error shapes, faults), `endpoints`
  (endpoint states), `transform_jobs` + `jsonpath` (batch transform), `training_jobs` + `job_logs`
  (script-mode training jobs and their CloudWatch log), `automl_jobs` + `automl_search` +
  `automl_inference` (Autopilot), `s3_objects` (the jobs' S3 reads and writes), `hosts` + `container`
  (model servers on the SageMaker inference toolkit), `tracking` (background work and its states)
"""
