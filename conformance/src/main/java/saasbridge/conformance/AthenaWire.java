package saasbridge.conformance;

import com.amazonaws.athena.connector.lambda.data.Block;
import com.amazonaws.athena.connector.lambda.data.BlockAllocator;
import com.amazonaws.athena.connector.lambda.data.SupportedTypes;
import com.amazonaws.athena.connector.lambda.metadata.GetTableLayoutResponse;
import com.amazonaws.athena.connector.lambda.metadata.GetTableResponse;
import com.amazonaws.athena.connector.lambda.records.ReadRecordsResponse;
import com.amazonaws.athena.connector.lambda.records.RemoteReadRecordsResponse;
import com.amazonaws.athena.connector.lambda.request.FederationRequest;
import com.amazonaws.athena.connector.lambda.request.FederationResponse;
import com.amazonaws.athena.connector.lambda.serde.VersionedObjectMapperFactory;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.Schema;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;

/**
 * The Athena Query Federation SDK's serde as the judge: requests are written with it, answers are read with it
 * for the version asked, every Arrow field must be on the SDK's SupportedTypes list, and the SDK must write the
 * answer back with the same fields in the same order (Arrow payloads and allocator ids aside).
 */
public final class AthenaWire
{
    /** Field names whose values are Arrow IPC bytes or allocator ids: compared by meaning, not by text. */
    private static final Set<String> ARROW_FIELDS = Set.of("schema", "records", "aId");
    public static final ObjectMapper PLAIN = new ObjectMapper();

    private final BlockAllocator allocator;

    public AthenaWire(BlockAllocator allocator)
    {
        this.allocator = allocator;
    }

    public ObjectMapper mapper(int version)
    {
        return VersionedObjectMapperFactory.create(allocator, version);
    }

    public byte[] write(FederationRequest request, int version)
    {
        try {
            return mapper(version).writeValueAsBytes(request);
        }
        catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Read an answer with the SDK's serde of `version`; throws what the SDK throws, or a Mismatch. */
    public FederationResponse judge(byte[] payload, int version) throws IOException
    {
        FederationResponse response = mapper(version).readValue(payload, FederationResponse.class);
        checkSupportedTypes(response);
        JsonNode sent = PLAIN.readTree(payload);
        JsonNode again = PLAIN.readTree(mapper(version).writeValueAsBytes(response));
        List<String> diffs = new ArrayList<>();
        compare(sent, again, "$", diffs);
        if (!diffs.isEmpty()) {
            throw new Mismatch("the SDK (serde v" + version + ") writes this " + response.getClass().getSimpleName()
                    + " differently: " + String.join("; ", diffs.subList(0, Math.min(5, diffs.size()))));
        }
        return response;
    }

    /** A request as the SDK reads it (the connector's side of the wire, for fixtures). */
    public FederationRequest readRequest(byte[] payload, int version) throws IOException
    {
        return mapper(version).readValue(payload, FederationRequest.class);
    }

    public static void checkSupportedTypes(FederationResponse response)
    {
        if (response instanceof GetTableResponse r) {
            checkSchema(r.getSchema());
        }
        else if (response instanceof GetTableLayoutResponse r) {
            checkBlock(r.getPartitions());
        }
        else if (response instanceof ReadRecordsResponse r) {
            checkBlock(r.getRecords());
        }
        else if (response instanceof RemoteReadRecordsResponse r) {
            checkSchema(r.getSchema());
        }
    }

    public static void checkBlock(Block block)
    {
        checkSchema(block.getSchema());
    }

    public static void checkSchema(Schema schema)
    {
        for (Field field : schema.getFields()) {
            checkField(field);
        }
    }

    private static void checkField(Field field)
    {
        try {
            SupportedTypes.assertSupported(field);
        }
        catch (RuntimeException e) {
            throw new Mismatch("Arrow type not supported by the SDK: field " + field.getName() + " " + field.getType()
                    + " (" + e.getMessage() + ")");
        }
        for (Field child : field.getChildren()) {
            checkField(child);
        }
    }

    /** Same field names in the same order, same JSON kinds and scalar values (Arrow payloads aside). */
    public static void compare(JsonNode a, JsonNode b, String path, List<String> diffs)
    {
        if (a.getNodeType() != b.getNodeType()) {
            diffs.add(path + ": " + a.getNodeType() + " sent, the SDK writes " + b.getNodeType());
            return;
        }
        if (a.isObject()) {
            List<String> an = names(a);
            List<String> bn = names(b);
            if (!an.equals(bn)) {
                diffs.add(path + ": fields " + an + " sent, the SDK writes " + bn);
                return;
            }
            for (String name : an) {
                if (!(ARROW_FIELDS.contains(name) && a.get(name).isTextual())) {
                    compare(a.get(name), b.get(name), path + "." + name, diffs);
                }
            }
        }
        else if (a.isArray()) {
            if (a.size() != b.size()) {
                diffs.add(path + ": " + a.size() + " items sent, the SDK writes " + b.size());
                return;
            }
            for (int i = 0; i < a.size(); i++) {
                compare(a.get(i), b.get(i), path + "[" + i + "]", diffs);
            }
        }
        else if (!a.asText().equals(b.asText())) {
            diffs.add(path + ": " + a + " sent, the SDK writes " + b);
        }
    }

    private static List<String> names(JsonNode node)
    {
        List<String> out = new ArrayList<>();
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            out.add(it.next());
        }
        return out;
    }

    /** The same JSON without identity.configOptions: the identity shape Athena sent before serde v6. */
    public static byte[] withOldIdentity(byte[] payload)
    {
        try {
            ObjectNode tree = (ObjectNode) PLAIN.readTree(payload);
            if (tree.get("identity") instanceof ObjectNode identity) {
                identity.remove("configOptions");
            }
            return PLAIN.writeValueAsBytes(tree);
        }
        catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** What the judge found wrong with a message the SDK itself could parse. */
    public static final class Mismatch extends RuntimeException
    {
        public Mismatch(String message)
        {
            super(message);
        }
    }
}
