package saasbridge.conformance;

import org.apache.arrow.vector.types.DateUnit;
import org.apache.arrow.vector.types.FloatingPointPrecision;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.Schema;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The Arrow type each catalog type (docs/catalog.md) must reach Athena as, written here apart from the
 * connector's own mapping (saasbridge/arrow/schema.py), so a wrong mapping cannot agree with itself: an int64
 * column sent as int32 fails here even when every value fits.
 */
final class CatalogTypes
{
    static final Map<String, ArrowType> SCALARS = Map.of(
            "string", ArrowType.Utf8.INSTANCE,
            "int32", new ArrowType.Int(32, true),
            "int64", new ArrowType.Int(64, true),
            "double", new ArrowType.FloatingPoint(FloatingPointPrecision.DOUBLE),
            "boolean", ArrowType.Bool.INSTANCE,
            "date", new ArrowType.Date(DateUnit.DAY),
            "timestamp", new ArrowType.Date(DateUnit.MILLISECOND));  // what Athena reads as TIMESTAMP (DATEMILLI)

    private CatalogTypes()
    {
    }

    /** Every column whose Arrow type is not what its catalog type text says ({column: type text}). */
    static List<String> mismatches(Schema schema, Map<String, String> catalogTypes)
    {
        List<String> out = new ArrayList<>();
        if (!catalogTypes.keySet().equals(schema.getFields().stream().map(Field::getName).collect(
                java.util.stream.Collectors.toSet()))) {
            out.add("columns " + schema.getFields().stream().map(Field::getName).toList() + " != catalog "
                    + catalogTypes.keySet());
        }
        for (Field field : schema.getFields()) {
            String type = catalogTypes.get(field.getName());
            if (type != null) {
                check(field, type, field.getName(), out);
            }
        }
        return out;
    }

    private static void check(Field field, String text, String path, List<String> out)
    {
        String type = text.trim();
        String lower = type.toLowerCase(Locale.ROOT);
        List<Field> children = field.getChildren();
        if (lower.startsWith("decimal(")) {
            List<String> ps = splitTop(inner(type));
            expect(new ArrowType.Decimal(Integer.parseInt(ps.get(0)), Integer.parseInt(ps.get(1)), 128), field, path, out);
        }
        else if (lower.startsWith("list<")) {
            if (expect(ArrowType.List.INSTANCE, field, path, out) && children.size() == 1) {
                check(children.get(0), inner(type), path + "[]", out);
            }
        }
        else if (lower.startsWith("map<")) {
            List<String> kv = splitTop(inner(type));
            if (expect(new ArrowType.Map(false), field, path, out) && children.size() == 1
                    && children.get(0).getChildren().size() == 2) {
                List<Field> entry = children.get(0).getChildren();
                check(entry.get(0), kv.size() == 2 ? kv.get(0) : "string", path + ".key", out);
                check(entry.get(1), kv.get(kv.size() - 1), path + ".value", out);
            }
        }
        else if (lower.startsWith("struct<")) {
            List<String> members = splitTop(inner(type));
            if (expect(ArrowType.Struct.INSTANCE, field, path, out)) {
                List<String> names = members.stream().map(m -> m.substring(0, m.indexOf(':')).trim()).toList();
                if (!names.equals(children.stream().map(Field::getName).toList())) {
                    out.add(path + ": members " + children.stream().map(Field::getName).toList() + ", catalog " + names);
                    return;
                }
                for (int i = 0; i < members.size(); i++) {
                    String m = members.get(i);
                    check(children.get(i), m.substring(m.indexOf(':') + 1), path + "." + names.get(i), out);
                }
            }
        }
        else if (SCALARS.containsKey(lower)) {
            expect(SCALARS.get(lower), field, path, out);
        }
        else {
            out.add(path + ": catalog type " + type + " has no Arrow type in this table");
        }
    }

    private static boolean expect(ArrowType want, Field field, String path, List<String> out)
    {
        if (!want.equals(field.getType())) {
            out.add(path + ": Arrow " + field.getType() + ", catalog type says " + want);
            return false;
        }
        return true;
    }

    /** What is between the first opening bracket and the last closing one. */
    private static String inner(String type)
    {
        int open = type.indexOf(type.indexOf('<') >= 0 && (type.indexOf('(') < 0 || type.indexOf('<') < type.indexOf('('))
                ? '<' : '(');
        return type.substring(open + 1, type.length() - 1);
    }

    /** The comma-separated parts at the top nesting level. */
    private static List<String> splitTop(String text)
    {
        List<String> parts = new ArrayList<>();
        int depth = 0;
        int start = 0;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            depth += (c == '<' || c == '(') ? 1 : (c == '>' || c == ')') ? -1 : 0;
            if (c == ',' && depth == 0) {
                parts.add(text.substring(start, i).trim());
                start = i + 1;
            }
        }
        parts.add(text.substring(start).trim());
        return parts;
    }
}
