package saasbridge.conformance;

import com.amazonaws.athena.connector.lambda.data.Block;
import com.amazonaws.athena.connector.lambda.data.BlockAllocator;
import com.amazonaws.athena.connector.lambda.data.S3BlockSpillReader;
import com.amazonaws.athena.connector.lambda.domain.Split;
import com.amazonaws.athena.connector.lambda.domain.TableName;
import com.amazonaws.athena.connector.lambda.domain.predicate.Constraints;
import com.amazonaws.athena.connector.lambda.domain.spill.S3SpillLocation;
import com.amazonaws.athena.connector.lambda.domain.spill.SpillLocation;
import com.amazonaws.athena.connector.lambda.metadata.GetSplitsRequest;
import com.amazonaws.athena.connector.lambda.metadata.GetSplitsResponse;
import com.amazonaws.athena.connector.lambda.metadata.GetTableLayoutRequest;
import com.amazonaws.athena.connector.lambda.metadata.GetTableLayoutResponse;
import com.amazonaws.athena.connector.lambda.metadata.GetTableRequest;
import com.amazonaws.athena.connector.lambda.metadata.GetTableResponse;
import com.amazonaws.athena.connector.lambda.records.ReadRecordsRequest;
import com.amazonaws.athena.connector.lambda.records.ReadRecordsResponse;
import com.amazonaws.athena.connector.lambda.records.RemoteReadRecordsResponse;
import com.amazonaws.athena.connector.lambda.request.FederationRequest;
import com.amazonaws.athena.connector.lambda.request.FederationResponse;
import com.amazonaws.athena.connector.lambda.security.FederatedIdentity;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.arrow.vector.types.pojo.Schema;
import software.amazon.awssdk.services.lambda.LambdaClient;
import software.amazon.awssdk.services.s3.S3Client;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Plays the Athena engine against one `saasbridge lambda serve` endpoint through the Lambda Invoke API. */
final class AthenaDriver
{
    static final String FUNCTION = "saasbridge-athena-conformance";
    static final String CATALOG = "saas";
    static final FederatedIdentity IDENTITY = new FederatedIdentity(
            "arn:aws:sts::123456789012:assumed-role/athena-conformance/driver", "123456789012",
            Map.of("team", "data"), List.of("analysts"), Map.of());

    final BlockAllocator allocator;
    final AthenaWire wire;
    final LambdaClient lambda;
    final S3BlockSpillReader spillReader;

    AthenaDriver(BlockAllocator allocator, String lambdaEndpoint, S3Client s3)
    {
        this.allocator = allocator;
        this.wire = new AthenaWire(allocator);
        this.lambda = Aws.lambda(lambdaEndpoint);
        this.spillReader = new S3BlockSpillReader(s3, allocator);
    }

    /** A Lambda function error as Athena receives it. */
    static final class FunctionError extends RuntimeException
    {
        final JsonNode document;

        FunctionError(JsonNode document)
        {
            super(document.toString());
            this.document = document;
        }
    }

    Aws.Answer send(byte[] payload)
    {
        return Aws.invoke(lambda, FUNCTION, payload);
    }

    @SuppressWarnings("unchecked")
    <T extends FederationResponse> T call(FederationRequest request, int version, boolean oldIdentity)
    {
        byte[] payload = wire.write(request, version);
        Aws.Answer answer = send(oldIdentity ? AthenaWire.withOldIdentity(payload) : payload);
        try {
            if (answer.functionError() != null) {
                throw new FunctionError(AthenaWire.PLAIN.readTree(answer.payload()));
            }
            return (T) wire.judge(answer.payload(), version);
        }
        catch (IOException e) {
            throw new UncheckedIOException("serde v" + version + " cannot read the answer to "
                    + request.getClass().getSimpleName() + ": " + e.getMessage(), e);
        }
    }

    <T extends FederationResponse> T call(FederationRequest request, int version)
    {
        return call(request, version, version < 6);
    }

    static String queryId()
    {
        return UUID.randomUUID().toString();
    }

    static Constraints constraints(Map<String, com.amazonaws.athena.connector.lambda.domain.predicate.ValueSet> summary)
    {
        return new Constraints(summary, List.of(), List.of(), Constraints.DEFAULT_NO_LIMIT, Map.of(), null);
    }

    Schema tableSchema(TableName table, int version)
    {
        GetTableResponse r = call(new GetTableRequest(IDENTITY, queryId(), CATALOG, table, Map.of()), version);
        assertEquals(table, r.getTableName());
        assertTrue(r.getPartitionColumns().isEmpty(), "no partition columns expected");
        return r.getSchema();
    }

    /** What a scan returns, and how it came back. */
    record Scan(List<ObjectNode> rows, int splits, int spilledAnswers, int spilledBlocks, int inlineRows) {}

    /** GetTableLayout → GetSplits (following continuation tokens) → ReadRecords for every split. */
    Scan scan(TableName table, Schema full, Schema projection, Constraints constraints, int version,
              long maxBlockSize, long maxInlineBlockSize)
    {
        String qid = queryId();
        GetTableLayoutResponse layout = call(new GetTableLayoutRequest(IDENTITY, qid, CATALOG, table, constraints,
                full, new HashSet<>()), version);
        Block partitions = layout.getPartitions();
        List<ObjectNode> rows = new ArrayList<>();
        if (partitions.getRowCount() == 0) {
            return new Scan(rows, 0, 0, 0, 0);
        }
        List<Split> splits = new ArrayList<>();
        GetSplitsRequest request = new GetSplitsRequest(IDENTITY, qid, CATALOG, table, partitions, List.of(),
                constraints, null);
        for (int page = 0; ; page++) {
            GetSplitsResponse r = call(request, version);
            splits.addAll(r.getSplits());
            if (r.getContinuationToken() == null) {
                break;
            }
            assertTrue(page < 10_000, "GetSplits never stops");
            request = new GetSplitsRequest(request, r.getContinuationToken());
        }
        int spilled = 0;
        int blocks = 0;
        int inline = 0;
        for (Split split : splits) {
            assertNotNull(split.getSpillLocation(), "every split carries a spill location");
            FederationResponse r = call(new ReadRecordsRequest(IDENTITY, CATALOG, qid, table, projection, split,
                    constraints, maxBlockSize, maxInlineBlockSize), version);
            if (r instanceof ReadRecordsResponse answer) {
                assertEquals(projection, answer.getSchema(), "an inline answer has the requested schema");
                List<ObjectNode> got = BlockRows.rows(answer.getRecords());
                inline += got.size();
                rows.addAll(got);
            }
            else {
                RemoteReadRecordsResponse remote = (RemoteReadRecordsResponse) r;
                assertEquals(projection, remote.getSchema(), "a spilled answer has the requested schema");
                spilled++;
                String dir = ((S3SpillLocation) split.getSpillLocation()).getKey();
                int i = 0;
                for (SpillLocation location : remote.getRemoteBlocks()) {
                    S3SpillLocation s3 = (S3SpillLocation) location;
                    assertEquals(dir + "." + i++, s3.getKey(), "spilled blocks are <split key>.0, .1, …");
                    assertFalse(s3.isDirectory());
                    try (Block block = spillReader.read(s3, remote.getEncryptionKey(), remote.getSchema())) {
                        AthenaWire.checkBlock(block);
                        rows.addAll(BlockRows.rows(block));
                    }
                    catch (Exception e) {
                        throw new AssertionError("the SDK's spill reader cannot read " + s3.getKey() + ": " + e, e);
                    }
                    blocks++;
                }
                if (split.getEncryptionKey() == null) {
                    assertNull(remote.getEncryptionKey(), "an unencrypted split answers without a key");
                }
                else {
                    assertEquals(split.getEncryptionKey(), remote.getEncryptionKey(), "the split's key is the answer's");
                }
            }
        }
        return new Scan(rows, splits.size(), spilled, blocks, inline);
    }
}
