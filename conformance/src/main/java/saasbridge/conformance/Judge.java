package saasbridge.conformance;

import com.amazonaws.athena.connector.lambda.data.Block;
import com.amazonaws.athena.connector.lambda.data.BlockAllocatorImpl;
import com.amazonaws.athena.connector.lambda.data.S3BlockSpillReader;
import com.amazonaws.athena.connector.lambda.domain.spill.S3SpillLocation;
import com.amazonaws.athena.connector.lambda.domain.spill.SpillLocation;
import com.amazonaws.athena.connector.lambda.records.RemoteReadRecordsResponse;
import com.amazonaws.athena.connector.lambda.request.FederationResponse;
import com.fasterxml.jackson.databind.JsonNode;
import software.amazon.awssdk.services.s3.S3Client;

import java.io.File;

/**
 * The judge on its own: `java saasbridge.conformance.Judge CASES.json` reads a list of
 * {"name", "kind": "athena" | "appflow", "version" (athena), "requestType" (appflow), "message",
 * "s3Endpoint" (athena, to read spilled blocks)} and prints one line per case: `ACCEPT name` or
 * `REJECT name: why`. One JVM judges them all.
 */
public final class Judge
{
    private Judge() {}

    public static void main(String[] args) throws Exception
    {
        if (args.length != 1) {
            System.err.println("usage: Judge CASES.json");
            System.exit(2);
        }
        try (BlockAllocatorImpl allocator = new BlockAllocatorImpl()) {
            AthenaWire wire = new AthenaWire(allocator);
            for (JsonNode c : AthenaWire.PLAIN.readTree(new File(args[0]))) {
                String name = c.get("name").asText();
                try {
                    byte[] message = AthenaWire.PLAIN.writeValueAsBytes(c.get("message"));
                    if (c.get("kind").asText().equals("appflow")) {
                        AppFlowJudge.readResponse(c.get("requestType").asText(), message);
                    }
                    else {
                        FederationResponse response = wire.judge(message, c.get("version").asInt());
                        if (response instanceof RemoteReadRecordsResponse remote && c.has("s3Endpoint")) {
                            readSpilled(allocator, remote, c.get("s3Endpoint").asText());
                        }
                    }
                    System.out.println("ACCEPT " + name);
                }
                catch (Exception | AssertionError e) {
                    System.out.println("REJECT " + name + ": " + String.valueOf(e).replace('\n', ' '));
                }
            }
        }
    }

    private static void readSpilled(BlockAllocatorImpl allocator, RemoteReadRecordsResponse remote, String endpoint)
            throws Exception
    {
        try (S3Client s3 = Aws.s3(endpoint)) {
            S3BlockSpillReader reader = new S3BlockSpillReader(s3, allocator);
            for (SpillLocation location : remote.getRemoteBlocks()) {
                try (Block block = reader.read((S3SpillLocation) location, remote.getEncryptionKey(), remote.getSchema())) {
                    AthenaWire.checkBlock(block);
                    BlockRows.rows(block);
                }
            }
        }
    }
}
