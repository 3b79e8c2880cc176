package saasbridge.conformance;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.arrow.vector.types.pojo.Schema;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.fail;

/** The reference API's rows per table (written by conformance/launch.py from its database). */
final class Expected
{
    private final Path dir;

    Expected(Path dir)
    {
        this.dir = dir;
    }

    List<String> tables()
    {
        try (Stream<Path> files = Files.list(dir)) {
            return files.map(p -> p.getFileName().toString().replace(".json", "")).sorted().collect(Collectors.toList());
        }
        catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    List<ObjectNode> rows(String table)
    {
        try {
            List<ObjectNode> out = new ArrayList<>();
            AthenaWire.PLAIN.readTree(dir.resolve(table + ".json").toFile()).forEach(n -> out.add((ObjectNode) n));
            return out;
        }
        catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static List<ObjectNode> project(List<ObjectNode> rows, Schema schema, Predicate<ObjectNode> keep)
    {
        List<ObjectNode> out = new ArrayList<>();
        for (ObjectNode row : rows) {
            if (keep.test(row)) {
                ObjectNode o = row.objectNode();
                schema.getFields().forEach(f -> o.set(f.getName(), row.get(f.getName())));
                out.add(o);
            }
        }
        return out;
    }

    /** Equal as multisets of rows; on failure, say which rows are missing and which are extra. */
    static void assertSameRows(List<? extends JsonNode> expected, List<? extends JsonNode> actual, String what)
    {
        Map<String, Integer> counts = new TreeMap<>();
        expected.forEach(r -> counts.merge(BlockRows.canonical(r), 1, Integer::sum));
        actual.forEach(r -> counts.merge(BlockRows.canonical(r), -1, Integer::sum));
        List<String> missing = new ArrayList<>();
        List<String> extra = new ArrayList<>();
        counts.forEach((row, n) -> {
            if (n > 0) {
                missing.add(row);
            }
            else if (n < 0) {
                extra.add(row);
            }
        });
        if (!missing.isEmpty() || !extra.isEmpty()) {
            fail(what + ": " + expected.size() + " rows expected, " + actual.size() + " returned; " + missing.size()
                    + " missing (first: " + missing.stream().limit(2).toList() + "), " + extra.size()
                    + " extra (first: " + extra.stream().limit(2).toList() + ")");
        }
    }
}
