package saasbridge.conformance;

import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.http.apache.ApacheHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.lambda.LambdaClient;
import software.amazon.awssdk.services.lambda.model.InvokeRequest;
import software.amazon.awssdk.services.lambda.model.InvokeResponse;
import software.amazon.awssdk.services.s3.S3Client;

import java.net.URI;
import java.time.Duration;

/** AWS SDK v2 clients pointed at the loopback stand-ins (dummy credentials, us-east-1). */
public final class Aws
{
    private static final StaticCredentialsProvider CREDENTIALS =
            StaticCredentialsProvider.create(AwsBasicCredentials.create("testing", "testing"));

    private Aws() {}

    public static LambdaClient lambda(String endpoint)
    {
        return LambdaClient.builder().endpointOverride(URI.create(endpoint)).region(Region.US_EAST_1)
                .credentialsProvider(CREDENTIALS).httpClientBuilder(ApacheHttpClient.builder())
                .overrideConfiguration(c -> c.apiCallTimeout(Duration.ofMinutes(2))).build();
    }

    public static S3Client s3(String endpoint)
    {
        return S3Client.builder().endpointOverride(URI.create(endpoint)).region(Region.US_EAST_1)
                .credentialsProvider(CREDENTIALS).forcePathStyle(true).httpClientBuilder(ApacheHttpClient.builder())
                .build();
    }

    /** A Lambda answer as the Invoke API gives it: the function error (null when none) and the payload. */
    public record Answer(String functionError, byte[] payload) {}

    public static Answer invoke(LambdaClient lambda, String function, byte[] payload)
    {
        InvokeResponse r = lambda.invoke(InvokeRequest.builder().functionName(function)
                .payload(SdkBytes.fromByteArray(payload)).build());
        return new Answer(r.functionError(), r.payload().asByteArray());
    }
}
