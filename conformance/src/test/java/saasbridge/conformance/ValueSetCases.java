package saasbridge.conformance;

import com.amazonaws.athena.connector.lambda.data.BlockAllocator;
import com.amazonaws.athena.connector.lambda.domain.predicate.AllOrNoneValueSet;
import com.amazonaws.athena.connector.lambda.domain.predicate.EquatableValueSet;
import com.amazonaws.athena.connector.lambda.domain.predicate.Range;
import com.amazonaws.athena.connector.lambda.domain.predicate.SortedRangeSet;
import com.amazonaws.athena.connector.lambda.domain.predicate.ValueSet;
import com.fasterxml.jackson.databind.JsonNode;
import org.apache.arrow.vector.types.DateUnit;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;

import java.math.BigDecimal;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.TreeMap;
import java.util.function.Predicate;

/**
 * Value sets of every kind for one column, built with the SDK's own builders from values in the reference data,
 * each with the predicate (over the reference rows) that says which rows must come back.
 */
final class ValueSetCases
{
    record Case(String label, ValueSet valueSet, Predicate<JsonNode> matches) {}

    private ValueSetCases() {}

    static boolean filterable(Field f)
    {
        return f.getChildren().isEmpty();
    }

    /** The SDK value for a reference value of this Arrow type. */
    static Object sdkValue(ArrowType type, JsonNode v)
    {
        if (type instanceof ArrowType.Utf8) {
            return v.asText();
        }
        if (type instanceof ArrowType.Int i) {
            return i.getBitWidth() == 64 ? (Object) v.asLong() : (Object) v.asInt();
        }
        if (type instanceof ArrowType.FloatingPoint) {
            return v.asDouble();
        }
        if (type instanceof ArrowType.Bool) {
            return v.asBoolean();
        }
        if (type instanceof ArrowType.Decimal) {
            return new BigDecimal(v.asText());
        }
        if (type instanceof ArrowType.Date d && d.getUnit() == DateUnit.DAY) {
            return LocalDate.parse(v.asText());
        }
        if (type instanceof ArrowType.Date) {
            return LocalDateTime.ofInstant(Instant.ofEpochMilli(v.asLong()), ZoneOffset.UTC);
        }
        throw new IllegalArgumentException("no value set for " + type);
    }

    /** Order of reference values of this type (numbers by value, ISO days and strings by text). */
    static Comparator<JsonNode> order(ArrowType type)
    {
        if (type instanceof ArrowType.Utf8 || type instanceof ArrowType.Date d && d.getUnit() == DateUnit.DAY) {
            return Comparator.comparing(JsonNode::asText);
        }
        if (type instanceof ArrowType.Bool) {
            return Comparator.comparing(JsonNode::asBoolean);
        }
        return Comparator.comparing(v -> new BigDecimal(v.asText()));
    }

    static List<Case> cases(BlockAllocator a, Field field, List<JsonNode> columnValues)
    {
        ArrowType t = field.getType();
        Comparator<JsonNode> cmp = order(t);
        TreeMap<String, JsonNode> distinct = new TreeMap<>();
        columnValues.stream().filter(v -> !v.isNull()).forEach(v -> distinct.put(BlockRows.canonical(v), v));
        List<JsonNode> sorted = new ArrayList<>(distinct.values());
        sorted.sort(cmp);
        List<Case> out = new ArrayList<>();
        // AllOrNoneValueSet(all=true, nullAllowed=false) goes on the wire as "all": false (the SDK writes isAll(),
        // which is all && nullAllowed), so IS NOT NULL is sent the way the engine sends it: SortedRangeSet.notNull
        out.add(new Case("IS NULL (AllOrNone none, nulls allowed)", new AllOrNoneValueSet(t, false, true), JsonNode::isNull));
        out.add(new Case("everything (AllOrNone all, nulls allowed)", new AllOrNoneValueSet(t, true, true), v -> true));
        out.add(new Case("nothing (AllOrNone none, no nulls)", new AllOrNoneValueSet(t, false, false), v -> false));
        out.add(new Case("IS NOT NULL (SortedRangeSet.notNull)", SortedRangeSet.notNull(a, t), v -> !v.isNull()));
        if (sorted.isEmpty()) {
            return out;
        }
        JsonNode lo = sorted.get(sorted.size() / 4);
        JsonNode mid = sorted.get(sorted.size() / 2);
        JsonNode hi = sorted.get(sorted.size() * 3 / 4);
        Object sLo = sdkValue(t, lo);
        Object sMid = sdkValue(t, mid);
        Object sHi = sdkValue(t, hi);
        Predicate<JsonNode> isMid = v -> !v.isNull() && cmp.compare(v, mid) == 0;
        out.add(new Case("= " + mid + " (single-value range)", SortedRangeSet.of(false, Range.equal(a, t, sMid)), isMid));
        out.add(new Case("IN (" + lo + ", " + hi + ") (EquatableValueSet white list)",
                EquatableValueSet.newBuilder(a, t, true, false).add(sLo).add(sHi).build(),
                v -> !v.isNull() && (cmp.compare(v, lo) == 0 || cmp.compare(v, hi) == 0)));
        out.add(new Case("NOT IN (" + mid + ") OR NULL (EquatableValueSet black list, nulls allowed)",
                EquatableValueSet.newBuilder(a, t, false, true).add(sMid).build(), isMid.negate()));
        if (t instanceof ArrowType.Bool) {
            return out;
        }
        out.add(new Case("BETWEEN " + lo + " AND " + hi + " (bounded range)",
                SortedRangeSet.of(false, Range.range(a, t, sLo, true, sHi, true)),
                v -> !v.isNull() && cmp.compare(v, lo) >= 0 && cmp.compare(v, hi) <= 0));
        out.add(new Case("> " + mid + " OR NULL (unbounded above, nulls allowed)",
                SortedRangeSet.of(true, Range.greaterThan(a, t, sMid)), v -> v.isNull() || cmp.compare(v, mid) > 0));
        out.add(new Case("<= " + lo + " (unbounded below)", SortedRangeSet.of(false, Range.lessThanOrEqual(a, t, sLo)),
                v -> !v.isNull() && cmp.compare(v, lo) <= 0));
        out.add(new Case("< " + lo + " OR > " + hi + " (two ranges, open bounds)",
                SortedRangeSet.of(false, Range.lessThan(a, t, sLo), Range.greaterThan(a, t, sHi)),
                v -> !v.isNull() && (cmp.compare(v, lo) < 0 || cmp.compare(v, hi) > 0)));
        return out;
    }
}
