package saasbridge.conformance;

import com.amazonaws.athena.connector.lambda.data.BlockAllocatorImpl;
import com.amazonaws.athena.connector.lambda.domain.TableName;
import com.amazonaws.athena.connector.lambda.metadata.ListSchemasRequest;
import com.amazonaws.athena.connector.lambda.metadata.ListSchemasResponse;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.arrow.vector.types.pojo.Schema;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Request;
import software.amazon.awssdk.services.s3.model.S3Object;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** Rows of 3 and 12 MiB (issue 23): the SDK's spill reader reads the connector's blocks, none above 16,000,000 bytes. */
class FatRowsConformanceTest
{
    static final long ATHENA_MAX_BLOCK = 16_000_000L;

    @Test
    void theSdkReadsSpilledBlocksOfFatRows() throws Exception
    {
        Env env = Env.load();
        String bucket = env.json().get("spillBucket").asText();
        try (BlockAllocatorImpl allocator = new BlockAllocatorImpl(); S3Client s3 = Aws.s3(env.s3Endpoint())) {
            AthenaDriver driver = new AthenaDriver(allocator, env.lambda("fatRows"), s3);
            ListSchemasResponse schemas = driver.call(new ListSchemasRequest(AthenaDriver.IDENTITY,
                    AthenaDriver.queryId(), AthenaDriver.CATALOG), 6);
            TableName table = new TableName(schemas.getSchemas().iterator().next(), "docs");
            Schema schema = driver.tableSchema(table, 6);
            List<ObjectNode> expected = new Expected(env.path("fatExpectedDir")).rows("docs");
            for (int version : new int[] {2, 6}) {
                AthenaDriver.Scan scan = driver.scan(table, schema, schema, AthenaDriver.constraints(Map.of()), version,
                        ATHENA_MAX_BLOCK, 3_465_000L);
                assertTrue(scan.spilledBlocks() >= 2, "fat rows come back in several spilled blocks, not " + scan.spilledBlocks());
                Expected.assertSameRows(expected, digests(scan.rows()), "fat rows (serde v" + version + ")");
            }
            List<S3Object> objects = s3.listObjectsV2Paginator(ListObjectsV2Request.builder().bucket(bucket)
                    .prefix("conformance-fat").build()).contents().stream().collect(Collectors.toList());
            assertTrue(objects.size() >= 4, "two scans spilled their blocks: " + objects.size());
            for (S3Object object : objects) {
                assertTrue(object.size() <= ATHENA_MAX_BLOCK, object.key() + " has " + object.size() + " bytes");
            }
        }
    }

    /** Rows as {id, size, sha256 of body}: what launch.py wrote as the truth (and short in a failure message). */
    static List<ObjectNode> digests(List<ObjectNode> rows) throws NoSuchAlgorithmException
    {
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        return rows.stream().map(row -> {
            ObjectNode out = row.objectNode();
            out.set("id", row.get("id"));
            out.set("size", row.get("size"));
            byte[] body = row.get("body").asText().getBytes(StandardCharsets.UTF_8);
            out.put("sha256", HexFormat.of().formatHex(sha.digest(body)));
            return out;
        }).collect(Collectors.toList());
    }
}
