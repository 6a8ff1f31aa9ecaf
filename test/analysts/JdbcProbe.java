// Drives the ClickHouse JDBC driver the way DBeaver and JDBC programs do, for the analyst tests.
//   java -cp <classpath> JdbcProbe <jdbc url> <user> <password> <step>…
// A step is SQL to run with a Statement, or "meta:tables" (DatabaseMetaData.getTables of the
// connection's database) or "meta:product" (product name and version). Prints one JSON line per
// step: {"ok":true,"columns":[…],"types":[…],"rows":[[…],…]} or {"ok":false,"error":…,"code":…}.
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

public class JdbcProbe {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.setProperty("user", args[1]);
        props.setProperty("password", args[2]);
        try (Connection conn = DriverManager.getConnection(args[0], props)) {
            System.out.println("{\"ok\":true,\"step\":\"connect\"}");
            for (int i = 3; i < args.length; i++) {
                System.out.println(step(conn, args[i]));
                System.out.flush();
            }
        } catch (SQLException e) {
            System.out.println(error(e));
        }
    }

    static String step(Connection conn, String step) {
        try {
            if (step.equals("meta:product")) {
                DatabaseMetaData meta = conn.getMetaData();
                return "{\"ok\":true,\"product\":" + str(meta.getDatabaseProductName()) + ",\"version\":" + str(meta.getDatabaseProductVersion()) + "}";
            }
            if (step.equals("meta:tables")) {
                try (ResultSet rs = conn.getMetaData().getTables(null, conn.getSchema(), "%", null)) {
                    return rows(rs);
                }
            }
            try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery(step)) {
                return rows(rs);
            }
        } catch (Exception e) {
            return error(e);
        }
    }

    static String rows(ResultSet rs) throws SQLException {
        ResultSetMetaData md = rs.getMetaData();
        List<String> columns = new ArrayList<>();
        List<String> types = new ArrayList<>();
        for (int c = 1; c <= md.getColumnCount(); c++) {
            columns.add(str(md.getColumnLabel(c)));
            types.add(str(md.getColumnTypeName(c)));
        }
        List<String> rows = new ArrayList<>();
        while (rs.next()) {
            List<String> row = new ArrayList<>();
            for (int c = 1; c <= md.getColumnCount(); c++) row.add(str(rs.getString(c)));
            rows.add("[" + String.join(",", row) + "]");
        }
        return "{\"ok\":true,\"columns\":[" + String.join(",", columns) + "],\"types\":[" + String.join(",", types) + "],\"rows\":[" + String.join(",", rows) + "]}";
    }

    static String error(Exception e) {
        int code = e instanceof SQLException ? ((SQLException) e).getErrorCode() : 0;
        return "{\"ok\":false,\"code\":" + code + ",\"error\":" + str(e.toString() + (e.getCause() != null ? " / cause: " + e.getCause() : "")) + "}";
    }

    static String str(String s) {
        if (s == null) return "null";
        StringBuilder b = new StringBuilder("\"");
        for (char ch : s.toCharArray()) {
            switch (ch) {
                case '"': b.append("\\\""); break;
                case '\\': b.append("\\\\"); break;
                case '\n': b.append("\\n"); break;
                case '\r': b.append("\\r"); break;
                case '\t': b.append("\\t"); break;
                default:
                    if (ch < 0x20) b.append(String.format("\\u%04x", (int) ch));
                    else b.append(ch);
            }
        }
        return b.append('"').toString();
    }
}
