package saasbridge.conformance;

import com.amazonaws.athena.connector.lambda.data.Block;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.arrow.vector.complex.reader.FieldReader;
import org.apache.arrow.vector.types.Types;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;

import java.math.BigDecimal;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Rows read through the SDK's Block API (field readers), as JSON in the form conformance/launch.py writes the
 * reference API's rows: timestamps as epoch millis, dates as ISO days, decimals as plain strings at their scale.
 */
public final class BlockRows
{
    private static final JsonNodeFactory JSON = JsonNodeFactory.instance;

    private BlockRows() {}

    public static List<ObjectNode> rows(Block block)
    {
        List<ObjectNode> out = new ArrayList<>();
        for (int row = 0; row < block.getRowCount(); row++) {
            ObjectNode o = JSON.objectNode();
            for (Field f : block.getSchema().getFields()) {
                FieldReader reader = block.getFieldReader(f.getName());
                reader.setPosition(row);
                o.set(f.getName(), reader.isSet() ? value(reader.readObject(), f) : JSON.nullNode());
            }
            out.add(o);
        }
        return out;
    }

    public static JsonNode value(Object v, Field f)
    {
        if (v == null) {
            return JSON.nullNode();
        }
        Types.MinorType type = Types.getMinorTypeForArrowType(f.getType());
        switch (type) {
            case VARCHAR:
                return JSON.textNode(v.toString());
            case TINYINT:
            case SMALLINT:
            case INT:
            case BIGINT:
                return JSON.numberNode(((Number) v).longValue());
            case FLOAT4:
            case FLOAT8:
                return JSON.numberNode(((Number) v).doubleValue());
            case BIT:
                return JSON.booleanNode(v instanceof Boolean b ? b : ((Number) v).intValue() != 0);
            case DECIMAL:
                return JSON.textNode(((BigDecimal) v).setScale(((ArrowType.Decimal) f.getType()).getScale())
                        .toPlainString());
            case DATEDAY:
                return JSON.textNode(v instanceof LocalDate d ? d.toString()
                        : LocalDate.ofEpochDay(((Number) v).longValue()).toString());
            case DATEMILLI:
                return JSON.numberNode(v instanceof LocalDateTime t ? t.toInstant(ZoneOffset.UTC).toEpochMilli()
                        : ((Number) v).longValue());
            case STRUCT: {
                Map<?, ?> m = (Map<?, ?>) v;
                ObjectNode o = JSON.objectNode();
                for (Field child : f.getChildren()) {
                    o.set(child.getName(), value(m.get(child.getName()), child));
                }
                return o;
            }
            case LIST: {
                ArrayNode a = JSON.arrayNode();
                for (Object item : (List<?>) v) {
                    a.add(value(item, f.getChildren().get(0)));
                }
                return a;
            }
            case MAP: {
                Field entries = f.getChildren().get(0);
                ObjectNode o = JSON.objectNode();
                for (Object e : (List<?>) v) {
                    Map<?, ?> entry = (Map<?, ?>) e;
                    o.set(String.valueOf(entry.get(entries.getChildren().get(0).getName())),
                            value(entry.get(entries.getChildren().get(1).getName()), entries.getChildren().get(1)));
                }
                return o;
            }
            default:
                throw new AthenaWire.Mismatch("no comparison for Arrow type " + f.getType() + " of " + f.getName());
        }
    }

    /** A JSON value as text with object keys sorted, so rows compare as a multiset. */
    public static String canonical(JsonNode node)
    {
        if (node.isObject()) {
            TreeMap<String, String> sorted = new TreeMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                sorted.put(e.getKey(), canonical(e.getValue()));
            }
            return sorted.toString();
        }
        if (node.isArray()) {
            List<String> items = new ArrayList<>();
            node.forEach(n -> items.add(canonical(n)));
            return items.toString();
        }
        if (node.isFloatingPointNumber()) {
            return Double.toString(node.doubleValue());
        }
        return node.toString();
    }
}
